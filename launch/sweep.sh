#!/usr/bin/env bash
# Hyper-parameter sweep: see launch/sweep.py --help. Needs python3-yaml (launch/deps.sh).
exec /usr/bin/python3 "$(dirname "$0")/sweep.py" "$@"
