#!/usr/bin/env bash
# labels: mpi;config
# The configs this repository ships still load: every configs/*.yaml and configs/bench/*.yaml
# passes `rdrop config` (keys, values, data files), every run of every configs/sweeps/*.yaml
# passes the check `sweep.sh --dry-run` makes before a sweep starts (and the dry run writes
# nothing), and the recipes that say they are a sweep's run resolve to exactly that run's config
# (configs/fashion_cnn_rdrop_k3.yaml = variant a1-k3 of configs/sweeps/rdrop_overfit_cnn.yaml).
source "$(dirname "$0")/lib.sh"
F=${RDROP_FASHION_MNIST_SRC:-/usr/share/datasets/fashion-mnist}
[ -r "$F/train-images-idx3-ubyte.gz" ] || { echo "SKIP: no Fashion-MNIST in $F"; exit 77; }
# a root like the repository's, with the data where the configs look for it (relative paths)
mkdir -p "$TMP/root/datasets"
ln -s "$F" "$TMP/root/datasets/fashion-mnist"
ln -s "$SRC/configs" "$TMP/root/configs"
cd "$TMP/root"
make_cnn_data   # configs/tiny_cnn.yaml's images are made by the tests
n=0
for c in configs/*.yaml configs/bench/*.yaml; do
  extra=()
  [ "$c" = configs/tiny_cnn.yaml ] && extra=("${CNN[@]:1}")
  "$RDROP" config "$c" "${extra[@]}" > "$TMP/out" 2> "$TMP/err" || { cat "$TMP/err"; fail "$c does not load"; }
  n=$((n + 1))
done
[ "$n" -ge 8 ] || fail "only $n configs found"
m=0
for s in configs/sweeps/*.yaml; do
  name=$(basename "$s" .yaml)
  RDROP=$RDROP bash "$SRC/launch/sweep.sh" "$s" --dry-run --out "$TMP/dry/$name" > "$TMP/dry-$name.log" 2>&1 \
    || { cat "$TMP/dry-$name.log"; fail "sweep $s: a run's config does not load"; }
  grep -q ": would run: " "$TMP/dry-$name.log" || { cat "$TMP/dry-$name.log"; fail "sweep $s: nothing checked"; }
  grep -q "^sweep: dry run: [1-9][0-9]* run configs checked, nothing written$" "$TMP/dry-$name.log" \
    || { cat "$TMP/dry-$name.log"; fail "sweep $s: the dry run does not say what it checked"; }
  [ ! -e "$TMP/dry/$name" ] || fail "sweep $s: the dry run wrote $(ls "$TMP/dry/$name")"
  m=$((m + 1))
done
pass "$n configs and $m sweep specs load"

# fashion_cnn_rdrop_k3.yaml is the study's a1-k3 run, key for key (seed 1, the same run folder)
line=$(grep "variant=a1-k3,optimizer.lr=0.05,run.seed=1: would run: " "$TMP/dry-rdrop_overfit_cnn.log" || true)
[ -n "$line" ] || fail "no a1-k3 run in the rdrop_overfit_cnn dry run"
read -r -a cmd <<< "${line#*would run: }"
# cmd: bash mpirun.sh -n 1 -- RDROP train CONFIG --out DIR --resume auto --set K=V ...
args=()
for ((i = 0; i < ${#cmd[@]}; i++)); do
  case ${cmd[i]} in
    train) args+=(config "${cmd[i + 1]}"); i=$((i + 1)) ;;
    --out) args+=(--out "${cmd[i + 1]}"); out=${cmd[i + 1]}; i=$((i + 1)) ;;
    --set) args+=(--set "${cmd[i + 1]}"); i=$((i + 1)) ;;
  esac
done
"$RDROP" "${args[@]}" > "$TMP/sweep-k3.yaml" || fail "the sweep's a1-k3 config does not resolve"
"$RDROP" config configs/fashion_cnn_rdrop_k3.yaml --set run.seed=1 --out "$out" > "$TMP/k3.yaml" \
  || fail "fashion_cnn_rdrop_k3.yaml does not resolve"
diff "$TMP/sweep-k3.yaml" "$TMP/k3.yaml" || fail "fashion_cnn_rdrop_k3.yaml is not the study's a1-k3 run"
pass "configs/fashion_cnn_rdrop_k3.yaml resolves to the study's a1-k3 run, key for key"
