#!/usr/bin/env bash
# Download COCO 2014 train (82,783 photos, 13 GB) for training: bash scripts/download_coco.sh [DEST]
# Leaves DEST/train2014/*.jpg (default DEST=data/coco); then: python scripts/train.py data.root=DEST/train2014
# Resumes an interrupted download (curl -C -), checks the zip before unpacking, and unpacks into a
# temporary folder that is renamed at the end, so a failed run never leaves a half-filled train2014/.
set -euo pipefail
dest="${1:-data/coco}"
url="http://images.cocodataset.org/zips/train2014.zip"
mkdir -p "$dest"
if [ -d "$dest/train2014" ]; then
  echo "already there: $dest/train2014 ($(find "$dest/train2014" -name '*.jpg' | wc -l) photos)"
  exit 0
fi
echo "downloading $url -> $dest/train2014.zip"
curl -fL -C - --progress-bar -o "$dest/train2014.zip" "$url"
echo "checking the archive"
python3 -c "import sys, zipfile; bad = zipfile.ZipFile(sys.argv[1]).testzip(); sys.exit(f'corrupt member: {bad}' if bad else 0)" "$dest/train2014.zip"
rm -rf "$dest/.train2014.part"
mkdir "$dest/.train2014.part"
python3 -m zipfile -e "$dest/train2014.zip" "$dest/.train2014.part"
mv "$dest/.train2014.part/train2014" "$dest/train2014"
rmdir "$dest/.train2014.part"
echo "done: $dest/train2014 ($(find "$dest/train2014" -name '*.jpg' | wc -l) photos); the zip can be deleted"
