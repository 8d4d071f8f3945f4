.PHONY: setup run test test-slow lint bench mutants images

setup:
	./scripts/setup

# The main job: the seed pipeline's scenarios on the embedded LocalStack and PostgreSQL, as many at once as
# there are cores (`harness run`'s default -j; each scenario has its own stack, on one of as many embedded LocalStacks as
# there are cores: one LocalStack works under one interpreter lock).
run: setup
	.venv/bin/harness run scenarios/

test: setup
	.venv/bin/ruff check .
	.venv/bin/lint-imports --no-cache
	.venv/bin/python -m pytest -n 2 -p no:cacheprovider -m "not slow"

# The end-to-end checks that take a minute or more each (marker `slow`); .ci/run runs them after `make test`.
test-slow: setup
	.venv/bin/python -m pytest -n 2 -p no:cacheprovider -m slow

# Docker images of the harness's LocalStack and a PostgreSQL, from Debian's packages and the pinned Python packages
# (as root; needs mmdebstrap and a Docker engine). docker-compose.yml and `harness up --docker` run them.
images: setup
	.venv/bin/harness image build

# The benchmarks (bench/): each prints medians beside its targets, and fails when it finds nothing to measure.
bench: setup
	.venv/bin/python bench/bench_executor.py
	.venv/bin/python bench/bench_pipeline.py
	.venv/bin/python bench/bench_scenarios.py
	.venv/bin/python bench/bench_soak.py

# Mutation testing: the scenario suite against each planted bug of tests/mutants/catalog.yaml.
mutants: setup
	.venv/bin/python scripts/mutants.py
