# One image for all six services; compose.yaml picks the service with the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    SWITCHBOARD_HOST=0.0.0.0 \
    SWITCHBOARD_DATA_DIR=/var/lib/switchboard

WORKDIR /app
COPY pyproject.toml README.md ./
COPY switchboard ./switchboard
COPY services ./services
RUN pip install . \
 && useradd --system --uid 10001 --home-dir /var/lib/switchboard --create-home switchboard

USER switchboard
EXPOSE 50051 50052 50053 50054 50055 8080
ENTRYPOINT ["switchboard"]
CMD ["serve", "router"]
