#!/bin/sh
# Link UCI Online Retail into this example's lake (read in place, never copied into the repository).
# Usage: examples/online_retail/setup.sh [path/to/online_retail.parquet]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dataset=${1:-"$here/../../../shared/datasets/online_retail/online_retail.parquet"}
if [ ! -f "$dataset" ]; then
    echo "setup.sh: no dataset at $dataset; pass its path as the first argument" >&2
    exit 2
fi
dataset=$(cd "$(dirname "$dataset")" && pwd)/$(basename "$dataset")
mkdir -p "$here/data/lake/raw/online_retail"
ln -sfn "$dataset" "$here/data/lake/raw/online_retail/online_retail.parquet"
echo "linked $here/data/lake/raw/online_retail/online_retail.parquet -> $dataset"
