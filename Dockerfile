# One image for the four services and the console; build from the repository root so shared/ is in context:
#   docker build -t tierline .
#   docker run tierline serve intake
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TIERLINE_HOST=0.0.0.0

WORKDIR /app

COPY pyproject.toml requirements.lock README.md ./
COPY shared ./shared
COPY services ./services

# requirements.lock pins every dependency, so the image installs what CI tested.
# hadolint ignore=DL3013
RUN python -m pip install -c requirements.lock . \
    && useradd --system --uid 10001 --no-create-home tierline

USER 10001

ENTRYPOINT ["tierline"]
CMD ["serve", "intake"]
