FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN DJANGO_SECRET_KEY=build-only python manage.py collectstatic --noinput --verbosity 0
RUN useradd --create-home spx && mkdir -p /app/var && chown -R spx /app/var
USER spx
EXPOSE 8000
CMD ["gunicorn", "spx_site.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3"]
