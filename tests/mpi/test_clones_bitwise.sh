#!/usr/bin/env bash
# labels: build
# The vector clones (src/common.h RD_SIMD_CLONES: AVX-512 / AVX2 versions of the optimizer,
# im2col/col2im, max_pool and bias loops, picked at load time) must not change a bit: ranks on
# different CPUs compute the same weights (docs/ARCHITECTURE.md "Determinism"). Builds rdrop
# a second time with -DRDROP_NO_CLONES (every loop at the portable x86-64-v2 width), trains a
# CNN (conv2d, max_pool, max-norm) and the MLP with Nesterov, weight decay and max-norm with
# both binaries, and compares the checkpoints' weights and optimizer state bitwise. The build
# tree: $RDROP_NOCLONES_BUILD (default: noclones-build/ next to the rdrop binary, kept between
# runs).
source "$(dirname "$0")/lib.sh"
make_cnn_data

NB=${RDROP_NOCLONES_BUILD:-$(dirname "$RDROP")/noclones-build}
t0=$(date +%s)
if [ ! -f "$NB/CMakeCache.txt" ]; then
  cmake -S "$SRC" -B "$NB" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS=-DRDROP_NO_CLONES \
    > "$TMP/configure.log" 2>&1 || { cat "$TMP/configure.log"; fail "configure"; }
fi
cmake --build "$NB" -j2 --target rdrop > "$TMP/build.log" 2>&1 || { tail -n 40 "$TMP/build.log"; fail "build"; }
echo "build without clones ready after $(( $(date +%s) - t0 ))s"

# not vacuous: the clones exist in the main binary, and this CPU runs one of them
# (nm to files first: `nm | grep -q` under pipefail fails when grep stops reading early)
nm "$RDROP" > "$TMP/nm-main.txt"
nm "$NB/rdrop" > "$TMP/nm-noclones.txt"
if ! grep -q 'rd_sgd_update\.avx512f' "$TMP/nm-main.txt"; then
  echo "SKIP: $RDROP has no vector clones (compiler without target_clones)"; exit 77
fi
grep -q 'rd_sgd_update\.avx' "$TMP/nm-noclones.txt" && fail "the -DRDROP_NO_CLONES build still has clones"
if grep -qw avx512f /proc/cpuinfo; then clone=avx512f; elif grep -qw avx2 /proc/cpuinfo; then clone=avx2; else
  echo "SKIP: this CPU has neither AVX2 nor AVX-512: the clones and the default code are the same"; exit 77
fi

opt=(--set optimizer.nesterov=true --set optimizer.weight_decay=0.001 --set checkpoint.every_epochs=0
     --set training.max_steps=40 --set run.seed=5)
mlp=("$TINY" --set model.layers.1.max_norm=0.5)
for b in main noclones; do
  bin=$RDROP; [ $b = noclones ] && bin=$NB/rdrop
  timeout 300 "$bin" train "${CNN[@]}" --out "$TMP/cnn-$b" "${opt[@]}" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "$b CNN run"; }
  timeout 300 "$bin" train "${mlp[@]}" --out "$TMP/mlp-$b" "${opt[@]}" > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "$b MLP run"; }
done
for net in cnn mlp; do
  $COMPARE "$TMP/$net-main/ckpt-000000040.h5" "$TMP/$net-noclones/ckpt-000000040.h5" --groups model,optimizer \
    > "$TMP/cmp" || { cat "$TMP/cmp"; fail "$net: the $clone clones and the portable loops disagree"; }
done
# the comparison can see a difference: another seed gives other weights
timeout 300 "$NB/rdrop" train "${CNN[@]}" --out "$TMP/other" "${opt[@]}" --set run.seed=6 > "$TMP/log" 2>&1 || { cat "$TMP/log"; fail "seed 6 run"; }
if $COMPARE "$TMP/cnn-main/ckpt-000000040.h5" "$TMP/other/ckpt-000000040.h5" --groups model > /dev/null 2>&1; then
  fail "seeds 5 and 6 compare equal: the comparison cannot see a difference"
fi
pass "40 steps of a CNN and of the MLP: the $clone clones give bitwise the weights and momentum of the portable loops"
