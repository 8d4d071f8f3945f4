"""What the wheel carries besides the `harness` package: everything else is in pyproject.toml.

The harness deploys the seed pipeline's own code, pins the runtime libraries with LocalStack's lock and
ships the scenario schema. The source tree keeps them at the top level (`lambdas/`, `constraints/`,
`scenarios/`); the wheel carries them as `harness/_data/lambdas/`, `harness/_data/constraints/` and
`harness/_data/scenarios/`, which is where `harness.paths` looks when the package is installed. An
editable install (`pip install -e .`, as `make setup` does) keeps using the top-level folders.

This is a `setup.py` only because the package list must be the discovered `harness*` packages plus these
three mapped folders, which pyproject.toml cannot express (it takes either a list or `find`).
"""

from setuptools import find_namespace_packages, setup

# Package name in the wheel -> folder in the source tree.
DATA_PACKAGES = {
    "harness._data.lambdas": "lambdas",
    "harness._data.constraints": "constraints",
    "harness._data.scenarios": "scenarios",
}

setup(
    # As `[tool.setuptools.packages.find]` did: namespace packages (folders without __init__.py) included.
    packages=[*find_namespace_packages(include=["harness", "harness.*"]), *DATA_PACKAGES],
    package_dir=DATA_PACKAGES,
    # Exactly these files; not the shipped scenario files, nor whatever else the folders hold.
    include_package_data=False,
    package_data={
        # All of the pipeline's code, as packaging.py zips it from a checkout: the same bytes, the same zips.
        "harness._data.lambdas": ["**/*"],
        "harness._data.constraints": ["localstack.txt"],
        "harness._data.scenarios": ["scenario.schema.json"],
    },
    exclude_package_data={"harness._data.lambdas": ["**/__pycache__/*", "**/*.pyc", "**/*.pyo"]},
)
