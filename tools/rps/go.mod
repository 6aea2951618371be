// netlab's load client (netlab-rps). Built and cached by scripts/build-rps.sh, keyed by a hash
// of this directory's sources.
module netlab.invalid/tools/rps

go 1.25

require github.com/HdrHistogram/hdrhistogram-go v1.4.0
