FROM python:3.11-slim
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir . && useradd --create-home tandem && mkdir -p /app/var && chown tandem /app/var
USER tandem
EXPOSE 8000
CMD ["tandem", "serve", "--host", "0.0.0.0", "--workers", "2"]
