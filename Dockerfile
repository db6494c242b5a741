# syntax=docker/dockerfile:1
# The image the Helm chart deploys (helm/whatsapp-exporter: image.repository whatsapp-exporter, tag = appVersion):
#   docker build -t whatsapp-exporter:$(node -p "require('./package.json').version") .
# Node 24, an LTS line (Node 20's support ended April 2026). CI builds it on a local base given as
# NODE_IMAGE (test/e2e/image.test.ts): any image with node and npm on PATH will do.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Dependencies first: this layer is reused until the lockfile changes.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
# .dockerignore lets in only what tsconfig.image.json compiles: src/, without source maps (nothing in
# the image reads them). `npm run build` would also compile the benchmarks, which import the tests.
COPY . .
RUN npx tsc -p tsconfig.image.json

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# No dependency of the exporter needs an install script; skipping them keeps the runtime layer inert.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist/src ./dist/src
# whatsapp_exporter_build_info's revision label (the release workflow passes the commit).
ARG REVISION=unknown
ENV WHATSAPP_EXPORTER_REVISION=${REVISION}
LABEL org.opencontainers.image.title="whatsapp-exporter" \
      org.opencontainers.image.description="Prometheus exporter for WhatsApp Business accounts" \
      org.opencontainers.image.licenses="Apache-2.0"
# Numeric, so Kubernetes' runAsNonRoot can verify it; the chart's securityContext uses the same ids.
USER 10001:10001
# 8080: the public webhook listener; 9464: /metrics, /healthz, /readyz and the status page (keep private).
EXPOSE 8080 9464
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["start"]
