# syntax=docker/dockerfile:1
# The image the Helm chart deploys (helm/whatsapp-exporter: image.repository whatsapp-exporter, tag = appVersion):
#   docker build -t whatsapp-exporter:$(node -p "require('./package.json').version") .
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Dependencies first: this layer is reused until the lockfile changes.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
# .dockerignore lets in only what `npm run build` compiles (tsconfig.build.json).
COPY . .
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# No dependency of the exporter needs an install script; skipping them keeps the runtime layer inert.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
LABEL org.opencontainers.image.title="whatsapp-exporter" \
      org.opencontainers.image.description="Prometheus exporter for WhatsApp Business accounts" \
      org.opencontainers.image.licenses="Apache-2.0"
# Numeric, so Kubernetes' runAsNonRoot can verify it; the chart's securityContext uses the same ids.
USER 10001:10001
# 8080: the public webhook listener; 9464: /metrics, /healthz, /readyz and the status page (keep private).
EXPOSE 8080 9464
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["start"]
