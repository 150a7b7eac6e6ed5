"""Automation: what acts on the loop by itself (retraining triggers, the rollout controller,
sequential tests, delivery metrics). It sits above the stages and the pipeline, and records
its decisions in the control plane (:mod:`headway.controlplane`)."""
