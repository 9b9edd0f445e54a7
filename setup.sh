#!/usr/bin/env bash
# Set up graphnas on a fresh machine: OS packages (graphviz's `dot`, Fashion-MNIST, Chromium), a virtual
# environment in .venv with pinned torch, and graphnas itself (editable, with test and onnx extras).
# Safe to run again: finished steps are skipped.
set -euo pipefail
cd "$(dirname "$0")"

need_apt=()
command -v dot >/dev/null 2>&1 || need_apt+=(graphviz)
[ -d /usr/share/datasets/fashion-mnist ] || need_apt+=(dataset-fashion-mnist)
# headless Chromium: the test that renders `graphnas report`'s page (graphnas itself never needs it)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing OS packages: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "setup: warning: please install the OS packages ${need_apt[*]} (e.g. sudo apt-get install ${need_apt[*]})" >&2
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.graphnas-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing torch and graphnas into .venv (a few minutes on a fresh machine)"
  .venv/bin/python -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
  .venv/bin/python -m pip install -q -e ".[test,onnx]"
  touch "$stamp"
fi
echo "setup: ready (.venv/bin/graphnas, .venv/bin/python -m pytest)"
