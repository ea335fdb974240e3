# Switchyard's image: built in one stage, run from a second that holds only
# the compiled gateway and its production dependencies. Runs as a non-root
# user; the config comes from a mounted file (deploy/kubernetes/ mounts a
# ConfigMap at /etc/switchyard). Not built in this project's CI: its machines
# cannot pull base images.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the image's own Node 24 runs everything, so the pinned `node` package need not download one.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json && npm prune --omit=dev --ignore-scripts

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The console's page, script and style (served at /dashboard; uPlot comes from node_modules).
COPY console ./console
USER 10001:10001
EXPOSE 8700
# The admin plane (server.admin in deploy/kubernetes/): /metrics, /admin, /dashboard.
EXPOSE 8701
# The same V8 flag as `npm start`: it keeps the young generation, and so the peak RSS, small.
ENTRYPOINT ["node", "--max-semi-space-size=8", "dist/cli.js"]
CMD ["serve", "--config", "/etc/switchyard/switchyard.yaml"]
