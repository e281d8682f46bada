#!/bin/sh
# Open MPI rsh agent for launch/cluster.sh (used in place of ssh via --mca plm_rsh_agent).
# Open MPI calls it as: AGENT [ssh-like -options] HOST WORD... where the words are an orted
# command line meant for a remote sh. HOST is an emulated node name (node1, ...); its network
# namespace is "$RDROP_CLUSTER_PREFIX$HOST". The command runs there with its own UTS namespace
# whose hostname is HOST, so Open MPI sees distinct nodes (shared memory only within a node).
while [ $# -gt 0 ]; do
  case "$1" in
    -*) shift ;;
    *) break ;;
  esac
done
[ $# -ge 2 ] || { echo "cluster-agent: usage: cluster-agent.sh HOST COMMAND..." >&2; exit 255; }
host=$1
shift
: "${RDROP_CLUSTER_PREFIX:?cluster-agent: RDROP_CLUSTER_PREFIX not set (run through launch/cluster.sh)}"
exec ip netns exec "$RDROP_CLUSTER_PREFIX$host" unshare --uts \
  sh -c 'hostname "$0" && exec sh -c "$*"' "$host" "$@"
