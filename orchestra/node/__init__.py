"""The node agent (Kubernetes' kubelet) and the container-runtime contract it drives."""
