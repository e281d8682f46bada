#!/usr/bin/env bash
# Curves from metrics.jsonl: see launch/plot.py --help. Needs gnuplot-nox.
exec /usr/bin/python3 "$(dirname "$0")/plot.py" "$@"
