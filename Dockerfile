# One image for the three services; docker-compose.yml picks the command of each.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOST=0.0.0.0
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY shared ./shared
COPY services ./services
COPY migrations ./migrations
COPY data ./data
RUN pip install --no-cache-dir -e . && useradd --create-home registry
USER registry
EXPOSE 5001 5002 5003
CMD ["registry", "serve", "--host", "0.0.0.0", "--port", "5001"]
