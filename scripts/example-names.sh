#!/bin/sh
# Sets up, in a directory where `skyql demo` ran (default: ./skyql-demo), every name the
# README's examples use: cat (the demo catalogue), sql (the named queries), datasets, and
# the real files of tests/data (ogle.tsv, vizier.vot, lm0010n22323.time, macho/,
# lightcurves/). Symbolic links into this repository: nothing is copied or overwritten
# but the links themselves.
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-skyql-demo}
if [ ! -d "$dir/catalog" ] || [ ! -d "$dir/raw" ]; then
  echo "example-names.sh: no demo in $dir (run: cargo run --release -- demo)" >&2
  exit 1
fi
data="$repo/tests/data"
cd "$dir"
for pair in \
  "catalog:cat" \
  "$repo/sql:sql" \
  "$repo/datasets:datasets" \
  "$data/catalogues/ogle3_lmc_within_1.5deg_of_80_-69.tsv:ogle.tsv" \
  "$data/votable/vizier_b2_votable.xml:vizier.vot" \
  "$data/lightcurves/eros2/lm0010n22323.time:lm0010n22323.time" \
  "$data/lightcurves/macho:macho" \
  "$data/lightcurves:lightcurves"; do
  target=${pair%:*}
  name=${pair##*:}
  if [ -e "$name" ] && [ ! -L "$name" ]; then
    echo "example-names.sh: $dir/$name exists and is not a link: left as it is" >&2
    continue
  fi
  ln -sfn "$target" "$name"
done
echo "in $dir: cat, raw, sql, datasets, ogle.tsv, vizier.vot, lm0010n22323.time, macho, lightcurves"
