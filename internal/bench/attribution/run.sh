#!/bin/sh
# Shows which buckets the KiB-written figures come from, the bbolt calls
# (Get, Put, Delete, Seek, First) on each per item, and what the commits
# wrote and how long that took: builds internal/bench against a copy of
# the module's bbolt with bbolt.patch applied (it counts the pages each
# top-level bucket writes at commit and the calls on it, and per commit
# the pages, the runs of adjacent pages they form, and the time spent
# writing and syncing them and the meta page) and runs the bbolt ceiling
# and the publish and end-to-end scenarios once each. Needs patch(1).
# Usage, from the repository root: sh internal/bench/attribution/run.sh
set -eu
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go mod download go.etcd.io/bbolt
cp -r "$(go list -m -f '{{.Dir}}' go.etcd.io/bbolt)" "$work/bbolt"
chmod -R u+w "$work/bbolt"
patch -s -d "$work/bbolt" -p1 < internal/bench/attribution/bbolt.patch
cp go.mod "$work/go.mod"
cp go.sum "$work/go.sum"
go mod edit -modfile="$work/go.mod" -replace go.etcd.io/bbolt="$work/bbolt"
go build -modfile="$work/go.mod" -tags attribution -o "$work/bench" ./internal/bench
cd "$work"
for s in bolt_ceiling publish e2e; do
	echo "== $s"
	./bench -scenario "$s"
done
