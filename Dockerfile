# One image, two targets:
#   docker build --target dataflow -t thresher-dataflow .   # custom SDK container for Dataflow workers
#   docker build --target train    -t thresher-train .      # pretraining (GPU: install a CUDA torch)
# Run Dataflow with: --sdk_container_image=<registry>/thresher-dataflow --experiments=use_runner_v2
# The install steps are the Makefile's (`make install`), which CI runs on every change: with the
# image's own pip, not upgraded (pyproject.toml declares every package the code imports, so any pip
# installs them: tests/test_packaging.py), and an import of what each target runs (from `/`: in
# the work directory, its `thresher/` folder would shadow the installed package), so that a
# missing package fails the build rather than the first job.

FROM apache/beam_python3.11_sdk:2.77.0 AS dataflow
WORKDIR /opt/thresher
COPY pyproject.toml README.md ./
COPY thresher ./thresher
COPY contracts ./contracts
COPY filters ./filters
COPY pipelines ./pipelines
COPY tokenizer ./tokenizer
COPY trainer ./trainer
# torch first, pinned, CPU build: Dataflow workers only curate and shard.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && pip install --no-cache-dir '.[gcp]' \
 && cd / && python -c "import trafilatura, thresher.filters.extract, thresher.pipelines.curate, thresher.pipelines.shard"

FROM python:3.11-slim AS train
WORKDIR /opt/thresher
COPY --from=dataflow /opt/thresher /opt/thresher
ARG TORCH_SPEC="torch==2.13.0"
RUN pip install --no-cache-dir "$TORCH_SPEC" && pip install --no-cache-dir . \
 && cd / && python -c "import thresher.cli, thresher.trainer.train"
ENTRYPOINT ["thresher"]
CMD ["--help"]
