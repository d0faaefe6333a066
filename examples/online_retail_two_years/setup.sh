#!/bin/sh
# Link both years of the Online Retail shop into this example's lake (read in place, never copied).
# Usage: examples/online_retail_two_years/setup.sh [path/to/datasets/online_retail]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
folder=${1:-"$here/../../../shared/datasets/online_retail"}
later="$folder/online_retail.parquet"
earlier="$folder/online_retail_II_2009-2010.parquet"
for f in "$later" "$earlier"; do
    if [ ! -f "$f" ]; then
        echo "setup.sh: no dataset at $f; pass the folder holding both files as the first argument" >&2
        exit 2
    fi
done
folder=$(cd "$folder" && pwd)
mkdir -p "$here/data/lake/raw/online_retail" "$here/data/lake/raw/archive/online_retail_2009-2010"
ln -sfn "$folder/online_retail.parquet" "$here/data/lake/raw/online_retail/online_retail.parquet"
ln -sfn "$folder/online_retail_II_2009-2010.parquet" \
    "$here/data/lake/raw/archive/online_retail_2009-2010/online_retail_II_2009-2010.parquet"
echo "linked the two exports under $here/data/lake/raw/ -> $folder"
