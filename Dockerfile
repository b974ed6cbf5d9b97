# mttd's images: one small image per step, built from one source stage (the steps' release
# build; the sidecar's own, whole-program optimised).
#   docker build --target train -t registry.example.com/mttd/train:0.1.0 .
# Targets: extract-features, train, validate, shadow-compare, gate, publish, forecast, score,
# live-verdicts, fleet-forecast, mttd (the CLI, used
# for `mttd registry approve`), sidecar (mttd-sidecar, the metrics sidecar: examples/sidecar/). Each runs as the distroless `nonroot` user (65532) and needs no
# writable root file system: the templates give it an emptyDir at /work.

FROM rust:1.95-bookworm AS sources
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY steps ./steps
COPY sidecar ./sidecar

FROM sources AS builder
RUN cargo build --release --locked --bins

# mttd-sidecar on its own, whole-program optimised (Cargo.toml's `sidecar` profile): it handles
# every request of the service it sits beside. Only the sidecar target builds this stage.
FROM sources AS sidecar-builder
RUN cargo build --profile sidecar --locked --bin mttd-sidecar

FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
LABEL org.opencontainers.image.title="mttd" \
      org.opencontainers.image.description="Monitor, Train, Test, Deploy: predictive autoscaling as a safe operating loop" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0"
# Numeric, so that the kubelet can check runAsNonRoot without a runAsUser in the pod.
USER 65532:65532

FROM runtime AS extract-features
COPY --from=builder /src/target/release/mttd-extract-features /mttd-extract-features
ENTRYPOINT ["/mttd-extract-features"]

FROM runtime AS train
COPY --from=builder /src/target/release/mttd-train /mttd-train
ENTRYPOINT ["/mttd-train"]

FROM runtime AS validate
COPY --from=builder /src/target/release/mttd-validate /mttd-validate
ENTRYPOINT ["/mttd-validate"]

FROM runtime AS shadow-compare
COPY --from=builder /src/target/release/mttd-shadow-compare /mttd-shadow-compare
ENTRYPOINT ["/mttd-shadow-compare"]

FROM runtime AS gate
COPY --from=builder /src/target/release/mttd-gate /mttd-gate
ENTRYPOINT ["/mttd-gate"]

FROM runtime AS publish
COPY --from=builder /src/target/release/mttd-publish /mttd-publish
ENTRYPOINT ["/mttd-publish"]

FROM runtime AS forecast
COPY --from=builder /src/target/release/mttd-forecast /mttd-forecast
ENTRYPOINT ["/mttd-forecast"]

FROM runtime AS score
COPY --from=builder /src/target/release/mttd-score /mttd-score
ENTRYPOINT ["/mttd-score"]

FROM runtime AS live-verdicts
COPY --from=builder /src/target/release/mttd-live-verdicts /mttd-live-verdicts
ENTRYPOINT ["/mttd-live-verdicts"]

FROM runtime AS fleet-forecast
COPY --from=builder /src/target/release/mttd-fleet-forecast /mttd-fleet-forecast
ENTRYPOINT ["/mttd-fleet-forecast"]

FROM runtime AS mttd
COPY --from=builder /src/target/release/mttd /mttd
ENTRYPOINT ["/mttd"]

FROM runtime AS sidecar
COPY --from=sidecar-builder /src/target/sidecar/mttd-sidecar /mttd-sidecar
EXPOSE 8081 9102
ENTRYPOINT ["/mttd-sidecar"]
