# The Chimera image the production compose file runs (workers and gateway share it).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY chimera chimera
COPY agents agents
COPY topics topics
COPY sinks sinks
COPY infra infra
COPY data data
RUN pip install --no-cache-dir .
ENTRYPOINT ["chimera"]
CMD ["--help"]
