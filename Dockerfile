# The VRS server: `vrs serve` against DATABASE_URL (a PostgreSQL ≥ 15 you provide).
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-ipaexfont fonts-ipamj-mincho zbar-tools poppler-utils \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY web web
COPY db db
COPY common common
COPY signing signing
COPY kiosk kiosk
COPY cli cli
COPY templates templates
RUN pip install --no-cache-dir -e . \
 && useradd --system --home /app vrs
USER vrs
ENV VRS_DATA_DIR=/app/data
EXPOSE 8000
CMD ["vrs", "serve", "--host", "0.0.0.0", "--port", "8000"]
