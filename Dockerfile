FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY worker ./worker
COPY templates ./templates
COPY training_data ./training_data
RUN pip install --no-cache-dir .
USER nobody
