# The bot in a container, installed by the same script as `make` and the systemd guide
# (scripts/install.sh), with the dependencies pinned by requirements.lock.
#
#   docker build -t wallet-bot .
#   docker compose up -d            # with PostgreSQL: see compose.yaml and docs/RUNBOOK.md
FROM python:3.11-slim-bookworm

# fonts-wqy-microhei: the CJK font the charts look for (bot/render/statement_chart.py);
# postgresql-client: pg_dump and pg_restore for `backup` and `restore` on PostgreSQL
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-wqy-microhei postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home-dir /var/lib/wallet-bot --shell /usr/sbin/nologin wallet \
    && install -d -o wallet -g wallet -m 0700 /var/lib/wallet-bot /backups

WORKDIR /opt/wallet-bot
COPY pyproject.toml README.md requirements.lock ./
COPY scripts/install.sh scripts/
COPY bot ./bot
RUN PYTHON=/usr/local/bin/python3.11 bash scripts/install.sh /opt/wallet-bot/.venv \
    && /opt/wallet-bot/.venv/bin/python -m bot --version

ENV PATH=/opt/wallet-bot/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    WALLET_DATA_DIR=/var/lib/wallet-bot/data \
    WALLET_KEY_DIR=/var/lib/wallet-bot/keys \
    WALLET_METRICS_PORT=9464 \
    WALLET_LOG_FORMAT=json

USER wallet
VOLUME ["/var/lib/wallet-bot"]
# 8443: the webhook (run --webhook URL --listen 0.0.0.0 --port 8443); /healthz and /metrics
# listen on 127.0.0.1:9464 inside the container (WALLET_METRICS_HOST=0.0.0.0 to scrape it
# from another container)
EXPOSE 8443
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=8).status != 200)"]
ENTRYPOINT ["python", "-m", "bot"]
CMD ["run"]
