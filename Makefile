# One-command set-up: `make demo` and `make test` work alone on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
LOGREG := $(VENV)/bin/logreg
# Re-install when the project's declared dependencies change.
STAMP := $(VENV)/.installed
DATA := examples/breast_cancer/breast_cancer.csv
PENGUINS := examples/penguins/penguins.csv

EXAMPLE := artifacts/example

.PHONY: install proto demo test test-runtime test-deps engine-venvs engines web-demo lint bench bench-docs bench-serve-tools example clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: 2.13.0 is the CPU build on this machine's disk; any other spec pulls a CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[train,dev,fast,serve,sklearn,mlflow,spark]'
	# the reference of --penalty firth (tests/trainer/test_firth.py): firthlogist 0.5.0 declares Python < 3.11 and
	# numpy < 2 but runs on both (pure Python; its one compiled module is not imported); tabulate is its dependency
	$(PY) -m pip install -q --no-deps --ignore-requires-python firthlogist==0.5.0 'tabulate>=0.8.10,<0.9'
	touch $(STAMP)

# runtime/grpc/inference_pb2*.py from runtime/grpc/inference.proto (committed: a serve install needs no protoc). The
# messages get a descriptor pool of their own, as Triton's are also package `inference` and tritonclient.grpc puts
# them in the default pool (the two in one process would clash); the service module imports its messages relatively.
# The gencode of grpcio-tools 1.81.1 (protoc 33.5) needs protobuf >= 6.33.5 and grpcio >= 1.81.1 (pyproject.toml).
proto: install
	$(PY) -m grpc_tools.protoc -Iruntime/grpc --python_out=runtime/grpc --grpc_python_out=runtime/grpc runtime/grpc/inference.proto
	sed -i 's/_descriptor_pool.Default()/_descriptor_pool.DescriptorPool()/' runtime/grpc/inference_pb2.py
	sed -i 's/^import inference_pb2 as/from . import inference_pb2 as/' runtime/grpc/inference_pb2_grpc.py

# The torch-free proof: a second environment with the base install only (what an app embedding the runtime gets),
# at the OLDEST versions pyproject.toml allows, so that its lower bounds are tested, not just claimed.
RUNTIME_VENV := .venv-runtime
RUNTIME_PY := $(RUNTIME_VENV)/bin/python
RUNTIME_STAMP := $(RUNTIME_VENV)/.installed
OLDEST := onnxruntime==1.25.0 numpy==1.26.4 click==8.2.0

$(RUNTIME_STAMP): pyproject.toml
	rm -rf $(RUNTIME_VENV)
	$(PYTHON) -m venv $(RUNTIME_VENV)
	$(RUNTIME_PY) -m pip install -q --upgrade pip setuptools wheel pytest
	$(RUNTIME_PY) -m pip install -q $(OLDEST) .
	touch $(RUNTIME_STAMP)

demo: install
	$(LOGREG) train $(DATA) --label diagnosis --out artifacts/breast_cancer
	$(LOGREG) export artifacts/breast_cancer
	@echo "\nPredictions for examples/breast_cancer/new_patients.csv, through the torch-free runtime:"
	$(LOGREG) predict artifacts/breast_cancer/model.onnx examples/breast_cancer/new_patients.csv --keep patient
	@echo "\nPalmer penguins, raw: text columns and NA cells are encoded and imputed inside the model:"
	$(LOGREG) train $(PENGUINS) --label species --out artifacts/penguins --export
	$(LOGREG) predict artifacts/penguins/model.onnx $(PENGUINS) --keep species | head -6

test: install lint test-runtime test-deps
	$(PY) -m pytest -q

# What the clients' tests need from outside PyPI: Debian's chromium for the browser page (the npm packages of
# examples/node and examples/browser are installed by the tests themselves), Java for Spark's tests
# (tests/integrations/test_spark.py) and the Java scorer, Go, Rust, Mono and arm-none-eabi-gcc for the other
# scorers and the microcontroller size report, and the edge engines' venvs.
test-deps: engine-venvs
	@command -v chromium > /dev/null || (apt-get update -q && apt-get install -y -q chromium) \
		|| echo "could not install Debian's chromium: the browser tests will skip, saying so"
	@command -v java > /dev/null || (apt-get update -q && apt-get install -y -q openjdk-17-jdk-headless) \
		|| echo "could not install Debian's openjdk-17-jdk-headless: the Spark tests will fail, saying so"
	@# the toolchains that prove `logreg export --code` (tests/exporter/test_scorers.py) and the Cortex-M size report
	@missing=""; for pair in go:golang-go rustc:rustc mcs:mono-mcs mono:mono-mcs arm-none-eabi-gcc:gcc-arm-none-eabi; do \
		command -v $${pair%%:*} > /dev/null || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then (apt-get update -q && apt-get install -y -q $$missing libnewlib-arm-none-eabi) \
		|| echo "could not install Debian's$$missing: those scorers' tests will skip, saying so"; fi

# Other engines, each in a venv of its own with numpy and the engine only (examples/engines/replay.py runs there)
TRACT_VENV := .venv-tract
OPENVINO_VENV := .venv-openvino
engine-venvs: $(TRACT_VENV)/.installed $(OPENVINO_VENV)/.installed

$(TRACT_VENV)/.installed:
	rm -rf $(TRACT_VENV)
	$(PYTHON) -m venv $(TRACT_VENV)
	$(TRACT_VENV)/bin/pip install -q tract==0.23.9 numpy
	touch $@

$(OPENVINO_VENV)/.installed:
	rm -rf $(OPENVINO_VENV)
	$(PYTHON) -m venv $(OPENVINO_VENV)
	$(OPENVINO_VENV)/bin/pip install -q openvino==2026.4.1 numpy
	touch $@

# The README's engine matrix, from real runs: every engine x (numeric binary, multiclass, categorical)
engines: install engine-venvs
	$(PY) examples/engines/matrix.py

# The browser page, for a person to try: http://127.0.0.1:8080/browser/
web-demo: install
	cd examples/browser && npm ci --ignore-scripts --no-audit --no-fund
	$(PY) examples/browser/serve.py

test-runtime: $(RUNTIME_STAMP)
	# this checkout's code, reinstalled without its dependencies (they are fixed by pyproject.toml)
	$(RUNTIME_PY) -m pip install -q --no-deps --no-build-isolation --force-reinstall .
	$(RUNTIME_PY) -c "import importlib.util as u, sys; found = [m for m in ('torch', 'onnx', 'onnxscript') if u.find_spec(m)]; sys.exit(f'the base install pulled in {found}') if found else print('base install: torch and onnx are not installed')"
	$(RUNTIME_PY) -c "import onnxruntime, numpy, click; print('oldest allowed: onnxruntime', onnxruntime.__version__, 'numpy', numpy.__version__, 'click', click.__version__)"
	cd /tmp && $(CURDIR)/$(RUNTIME_VENV)/bin/logreg info $(CURDIR)/artifacts/example/model.onnx > /dev/null
	$(RUNTIME_PY) -m pytest -q -p no:cacheprovider tests/runtime

# ruff, and import-linter's contracts (pyproject.toml) over the package as pip installs it: the package-dir mapping
# hides the subpackages from a walk of logreg_onnx/, so the contracts read a --target install in build/lint.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	rm -rf build/lint
	$(PY) -m pip install -q --no-deps --no-build-isolation --target build/lint .
	cd build/lint && PYTHONPATH=. $(CURDIR)/$(VENV)/bin/lint-imports --config $(CURDIR)/pyproject.toml --no-cache

bench: install bench-serve-tools
	$(PY) bench/train.py
	$(PY) bench/runtime.py
	$(PY) bench/verify_strength.py
	$(PY) bench/categorical.py
	$(PY) bench/penalty.py
	$(PY) bench/robust_fits.py
	$(PY) bench/l1_path.py
	$(PY) bench/stream.py
	$(PY) bench/distributed.py
	$(PY) bench/serve.py
	$(PY) bench/serve_v2.py
	$(PY) bench/serve.py --drift
	$(PY) bench/spark.py
	$(PY) bench/explain.py
	$(PY) bench/edge.py
	PYTHONPATH=$(SKL2ONNX) $(PY) bench/skl2onnx_compare.py

# bench/skl2onnx_compare.py's reference: skl2onnx, no dependency of ours, beside the venv (its own dependencies,
# onnx and scikit-learn, are the venv's: --no-deps keeps them from being changed)
SKL2ONNX := build/skl2onnx
bench: $(SKL2ONNX)/.installed
$(SKL2ONNX)/.installed:
	$(PY) -m pip install -q --no-deps --target $(SKL2ONNX) skl2onnx==1.20.0
	touch $@

# docs/benchmarks.md's tables from the records the benchmarks wrote (bench/results/), and the options tables of the
# docs from trainer/options.py: the generated blocks of docs/*.md are never edited by hand (tests/docs checks them)
bench-docs: install
	$(PY) bench/docs.py

# bench/serve.py's and bench/serve_v2.py's load generators and reference: wrk and h2load (Debian's nghttp2-client: HTTP/1.1
# and gRPC, a request rate, each request's status and latency), and MLServer 1.7.1 as shipped, in a venv of its own
MLSERVER_VENV := .venv-mlserver
bench-serve-tools: $(MLSERVER_VENV)/.installed
	@command -v wrk > /dev/null && command -v h2load > /dev/null || \
		(apt-get update -q && apt-get install -y -q wrk nghttp2-client)

$(MLSERVER_VENV)/.installed:
	rm -rf $(MLSERVER_VENV)
	$(PYTHON) -m venv $(MLSERVER_VENV)
	$(MLSERVER_VENV)/bin/pip install -q --upgrade pip
	# uvloop < 0.22: MLServer 1.7.1's inference worker calls asyncio.get_event_loop(), which uvloop 0.22 made raise
	# ("There is no current event loop"), so MLServer with the newest uvloop answers no request
	$(MLSERVER_VENV)/bin/pip install -q mlserver==1.7.1 mlserver-sklearn==1.7.1 'uvloop<0.22'
	touch $@

# The committed example models. artifacts/example/ is a format-1 file (logreg-onnx 0.2), frozen: it proves the runtime
# still loads format 1, so no target rewrites it. artifacts/example-penguins/ is the format-2 model of the raw penguins data
# (categorical columns, missing values), rebuilt by `make example`.
example: install
	rm -rf build/penguins-run
	$(LOGREG) train $(PENGUINS) --label species --out build/penguins-run --quiet --export
	mkdir -p artifacts/example-penguins
	cp build/penguins-run/model.onnx build/penguins-run/model.testvectors.json build/penguins-run/parity.json artifacts/example-penguins/

clean:
	rm -rf $(VENV) $(RUNTIME_VENV) $(MLSERVER_VENV) $(TRACT_VENV) $(OPENVINO_VENV) build *.egg-info .pytest_cache .ruff_cache
	rm -rf examples/node/node_modules examples/browser/node_modules
