#!/bin/sh
# Link both years of the Online Retail shop into this example's lake (read in place, never copied).
# Usage: examples/online_retail_two_years/setup.sh [path/to/online_retail.parquet, or the folder holding it]
# The previous year's file (online_retail_II_2009-2010.parquet) is taken from beside it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
given=${1:-"$here/../../../shared/datasets/online_retail"}
if [ -f "$given" ]; then folder=$(dirname "$given"); else folder=$given; fi
for f in "$folder/online_retail.parquet" "$folder/online_retail_II_2009-2010.parquet"; do
    if [ ! -f "$f" ]; then
        echo "setup.sh: no dataset at $f; pass online_retail.parquet (with the 2009-2010 file beside it) or their folder" >&2
        exit 2
    fi
done
folder=$(cd "$folder" && pwd)
mkdir -p "$here/data/lake/raw/online_retail" "$here/data/lake/raw/archive/online_retail_2009-2010"
ln -sfn "$folder/online_retail.parquet" "$here/data/lake/raw/online_retail/online_retail.parquet"
ln -sfn "$folder/online_retail_II_2009-2010.parquet" \
    "$here/data/lake/raw/archive/online_retail_2009-2010/online_retail_II_2009-2010.parquet"
echo "linked the two exports under $here/data/lake/raw/ -> $folder"
