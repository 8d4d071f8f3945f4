"""The harness as Docker images, built here from Debian packages and the pinned Python packages.

`image.py` builds them (`harness image build`, `make images`): a Debian root filesystem from `mmdebstrap`, a
virtual environment with LocalStack and the harness installed with `constraints/localstack.txt`, the Lambda
runtimes, and a PostgreSQL image on the same layers. `layers.py` writes the layers and the docker-archive by
hand, with fixed times and owners, so that the same inputs give the same image ID. `scripts.py` holds the
two small programs the images run: the watchdog that ends a container whose `harness up --docker` is gone,
and the PostgreSQL start script.
"""
