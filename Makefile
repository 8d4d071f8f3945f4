.PHONY: setup run test lint bench mutants

setup:
	./scripts/setup

# The main job: the seed pipeline's scenarios on the embedded LocalStack and PostgreSQL, as many at once as
# there are cores (`harness run`'s default -j; each scenario has its own stack in the one LocalStack).
run: setup
	.venv/bin/harness run scenarios/

test: setup
	.venv/bin/ruff check .
	.venv/bin/lint-imports --no-cache
	.venv/bin/python -m pytest -n 2 -p no:cacheprovider

bench: setup
	.venv/bin/python bench/bench_executor.py

# Mutation testing: the scenario suite against each planted bug of tests/mutants/catalog.yaml.
mutants: setup
	.venv/bin/python scripts/mutants.py
