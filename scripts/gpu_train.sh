#!/usr/bin/env bash
# Issue 18's training candidates, side by side on one lent GPU (each run its own process: the
# batches are drawn on the CPU, the steps run on the GPU). Needs no GDAL and no ../shared:
# the seasons come from `python scripts/bundled_models.py dump-seasons --out FILE`.
#
#   scripts/gpu_train.sh SEASONS.npz OUT_DIR [MINUTES_STAGE1] [MINUTES_STAGE2] [DEVICE]
#
# Runs (every one hides whole dates in 30 % of its samples and half its validation windows):
#   ft_smts, ft_mts     the bundled weights fine-tuned (stage 1 + 2 minutes, lr 3e-4)
#   sc_smts, sc_mts     from scratch: plain temporal prior (lr 1e-3), then the residual prior
#   sc_mts_s1           the same as sc_mts, seed 1 (how far two seeds lie apart)
#   sc_smts6            from scratch with 6 SAR dates, one beside each MSI date
#   ft_smts_s1, ft_mts_s1            ft_smts and ft_mts with seed 1
#   ft_smts_chg, ft_smts_chg_s1      ft_smts reading SAR as change from its mean (seeds 0, 1)
# RUNS="name ..." picks some (default: the first six).
set -u
seasons=$1; out=$2; m1=${3:-3.5}; m2=${4:-3}; device=${5:-cuda}
py=${PYTHON:-python3}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
if [ -n "${FORCE_GDAL_STUB:-}" ] || ! $py -c "import osgeo" 2>/dev/null; then
  # Training reads nothing through GDAL; the package imports it at module level.
  stub=$(mktemp -d); mkdir -p "$stub/osgeo"
  printf 'from unittest.mock import MagicMock\ngdal = osr = ogr = MagicMock()\n' \
    >"$stub/osgeo/__init__.py"
  export PYTHONPATH=$stub${PYTHONPATH:+:$PYTHONPATH}
fi
train() {  # name, then the arguments of `bundled_models.py train`
  local name=$1; shift
  PYTHONUNBUFFERED=1 $py "$here/bundled_models.py" train --seasons "$seasons" --device "$device" \
    --batch 32 --threads 2 --whole-dates --variants 8 --val-variants 8 --lr-by-time \
    --steps 100000 --validate-every 200 "$@" >>"$out/$name.log" 2>&1
}
total=$($py -c "print($m1 + $m2)")
scratch() {  # name, variant, seed, extra arguments
  local name=$1 variant=$2 seed=$3; shift 3
  train "$name" --variant "$variant" --seed "$seed" --residual-scale 0 --lr 1e-3 \
    --minutes "$m1" --out "$out/$name.stage1.pt" "$@" &&
  train "$name" --variant "$variant" --seed $((seed + 2)) --residual-scale 4 --lr 3e-4 \
    --minutes "$m2" --init "$out/$name.stage1.pt" --out "$out/$name.pt" "$@" &&
  rm -f "$out/$name.stage1.pt"
}
finetune() {  # name, variant, seed, extra arguments
  local name=$1 variant=$2 seed=$3; shift 3
  train "$name" --variant "$variant" --seed "$seed" --residual-scale 4 --lr 3e-4 \
    --minutes "$total" --init "$here/../model_weights/${variant}_vit.pt" --out "$out/$name.pt" "$@"
}
run() {
  case $1 in
    ft_smts) finetune ft_smts smts 0 ;;
    ft_mts) finetune ft_mts mts 0 ;;
    ft_smts_s1) finetune ft_smts_s1 smts 1 ;;
    ft_mts_s1) finetune ft_mts_s1 mts 1 ;;
    ft_smts_chg) finetune ft_smts_chg smts 0 --sar-input change ;;
    ft_smts_chg_s1) finetune ft_smts_chg_s1 smts 1 --sar-input change ;;
    sc_smts) scratch sc_smts smts 0 ;;
    sc_mts) scratch sc_mts mts 0 ;;
    sc_mts_s1) scratch sc_mts_s1 mts 1 ;;
    sc_smts6) scratch sc_smts6 smts 0 --sar-dates 6 ;;
    *) echo "unknown run $1" >&2; return 2 ;;
  esac
}
for name in ${RUNS:-ft_smts ft_mts sc_smts sc_mts sc_mts_s1 sc_smts6}; do
  run "$name" &
done
wait
tail -n 3 "$out"/*.log
