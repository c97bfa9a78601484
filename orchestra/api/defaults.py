"""Kubernetes' defaulting: fill in what the API server fills in before validation.

Mirrors ``SetDefaults_*`` of ``pkg/apis/{core,apps,batch,autoscaling}/v1`` (``v2`` for
autoscaling). Defaults are applied in place; an explicit value is never overwritten.
"""

from __future__ import annotations

from typing import Any, Callable

from orchestra.api import apps, autoscaling, batch, core

__all__ = ["apply_defaults", "has_defaults", "image_pull_policy_for"]

DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS = 30
DEFAULT_SCHEDULER_NAME = "default-scheduler"
DEFAULT_TERMINATION_MESSAGE_PATH = "/dev/termination-log"
DEFAULT_CLIENT_IP_SERVICE_AFFINITY_SECONDS = 10800
DEFAULT_VOLUME_MODE = 0o644
DEFAULT_CPU_UTILIZATION = 80
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def image_pull_policy_for(image: str | None) -> str:
    """``Always`` for a ``:latest`` or untagged image, else ``IfNotPresent`` (digests included)."""
    if not image:
        return "IfNotPresent"
    name, has_digest, _ = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ("" if has_digest else "latest")
    return "Always" if tag == "latest" else "IfNotPresent"


# --- core -------------------------------------------------------------------------------


def _default_probe(probe: core.Probe | None) -> None:
    if probe is None:
        return
    # As in Kubernetes (int32 zero means unset), 0 takes the default too.
    if not probe.timeout_seconds:
        probe.timeout_seconds = 1
    if not probe.period_seconds:
        probe.period_seconds = 10
    if not probe.success_threshold:
        probe.success_threshold = 1
    if not probe.failure_threshold:
        probe.failure_threshold = 3
    http = probe.http_get
    if http is not None:
        if not http.path:
            http.path = "/"
        if not http.scheme:
            http.scheme = "HTTP"


def _default_container(container: core.Container) -> None:
    if not container.termination_message_path:
        container.termination_message_path = DEFAULT_TERMINATION_MESSAGE_PATH
    if not container.termination_message_policy:
        container.termination_message_policy = "File"
    if not container.image_pull_policy:
        container.image_pull_policy = image_pull_policy_for(container.image)
    for port in container.ports or ():
        if not port.protocol:
            port.protocol = "TCP"
    for env in container.env or ():
        field_ref = env.value_from.field_ref if env.value_from is not None else None
        if field_ref is not None and not field_ref.api_version:
            field_ref.api_version = "v1"
    _default_probe(container.liveness_probe)
    _default_probe(container.readiness_probe)
    _default_probe(container.startup_probe)


def _default_volume(volume: core.Volume) -> None:
    sources = (
        volume.empty_dir,
        volume.config_map,
        volume.secret,
        volume.host_path,
        volume.persistent_volume_claim,
    )
    if all(s is None for s in sources) and not volume.extra:
        volume.empty_dir = core.EmptyDirVolumeSource()
    if volume.config_map is not None and volume.config_map.default_mode is None:
        volume.config_map.default_mode = DEFAULT_VOLUME_MODE
    if volume.secret is not None and volume.secret.default_mode is None:
        volume.secret.default_mode = DEFAULT_VOLUME_MODE
    if volume.host_path is not None and volume.host_path.type is None:
        volume.host_path.type = ""


def _default_pod_spec(spec: core.PodSpec | None) -> None:
    """Defaults shared by pods and pod templates (``SetDefaults_PodSpec`` and below)."""
    if spec is None:
        return
    if not spec.dns_policy:
        spec.dns_policy = "ClusterFirst"
    if not spec.restart_policy:
        spec.restart_policy = "Always"
    if spec.security_context is None:
        spec.security_context = core.PodSecurityContext()
    if spec.termination_grace_period_seconds is None:
        spec.termination_grace_period_seconds = DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS
    if not spec.scheduler_name:
        spec.scheduler_name = DEFAULT_SCHEDULER_NAME
    for volume in spec.volumes or ():
        _default_volume(volume)
    for container in (spec.init_containers or []) + (spec.containers or []):
        _default_container(container)


def _default_template(template: core.PodTemplateSpec | None) -> None:
    if template is not None:
        _default_pod_spec(template.spec)


def _default_pod(pod: core.Pod) -> None:
    spec = pod.spec
    if spec is None:
        return
    for container in (spec.containers or []) + (spec.init_containers or []):
        resources = container.resources
        if resources is not None and resources.limits:
            # Requests default to limits, resource by resource (pods only, not templates).
            requests = resources.requests if resources.requests is not None else {}
            for name, value in resources.limits.items():
                requests.setdefault(name, value)
            resources.requests = requests
        if spec.host_network:
            for port in container.ports or ():
                if port.host_port is None:
                    port.host_port = port.container_port
    if spec.enable_service_links is None:
        spec.enable_service_links = True
    _default_pod_spec(spec)


def _default_namespace(namespace: core.Namespace) -> None:
    meta = namespace.metadata
    if meta is not None and meta.name:
        if meta.labels is None:
            meta.labels = {}
        meta.labels[NAMESPACE_NAME_LABEL] = meta.name
    if namespace.status is None:
        namespace.status = core.NamespaceStatus()
    if not namespace.status.phase:
        namespace.status.phase = "Active"


def _default_node(node: core.Node) -> None:
    status = node.status
    if status is not None and status.allocatable is None and status.capacity is not None:
        status.allocatable = dict(status.capacity)


def _default_service(service: core.Service) -> None:
    spec = service.spec
    if spec is None:
        return
    if not spec.session_affinity:
        spec.session_affinity = "None"
    if spec.session_affinity == "None":
        spec.session_affinity_config = None
    elif spec.session_affinity == "ClientIP":
        config = spec.session_affinity_config
        if config is None:
            config = spec.session_affinity_config = core.SessionAffinityConfig()
        if config.client_ip is None:
            config.client_ip = core.ClientIPConfig()
        if config.client_ip.timeout_seconds is None:
            config.client_ip.timeout_seconds = DEFAULT_CLIENT_IP_SERVICE_AFFINITY_SECONDS
    if not spec.type:
        spec.type = "ClusterIP"
    for port in spec.ports or ():
        if not port.protocol:
            port.protocol = "TCP"
        if port.target_port is None or port.target_port == 0 or port.target_port == "":
            port.target_port = port.port
    externally_accessible = spec.type in ("LoadBalancer", "NodePort") or (
        spec.type == "ClusterIP" and bool(spec.external_ips)
    )
    if externally_accessible and not spec.external_traffic_policy:
        spec.external_traffic_policy = "Cluster"
    if spec.internal_traffic_policy is None and spec.type in ("ClusterIP", "NodePort", "LoadBalancer"):
        spec.internal_traffic_policy = "Cluster"
    if spec.type == "LoadBalancer":
        if spec.allocate_load_balancer_node_ports is None:
            spec.allocate_load_balancer_node_ports = True
        load_balancer = service.status.load_balancer if service.status is not None else None
        for ingress in (load_balancer.ingress or []) if load_balancer is not None else []:
            if ingress.ip and ingress.ip_mode is None:
                ingress.ip_mode = "VIP"


def _default_config_map(config_map: core.ConfigMap) -> None:
    if config_map.data is None:
        config_map.data = {}


def _default_endpoints(endpoints: core.Endpoints) -> None:
    for subset in endpoints.subsets or ():
        for port in subset.ports or ():
            if not port.protocol:
                port.protocol = "TCP"


# --- apps -------------------------------------------------------------------------------


def _default_deployment(deployment: apps.Deployment) -> None:
    spec = deployment.spec
    if spec is None:
        return
    if spec.replicas is None:
        spec.replicas = 1
    if spec.strategy is None:
        spec.strategy = apps.DeploymentStrategy()
    strategy = spec.strategy
    if not strategy.type:
        strategy.type = "RollingUpdate"
    if strategy.type == "RollingUpdate":
        if strategy.rolling_update is None:
            strategy.rolling_update = apps.RollingUpdateDeployment()
        if strategy.rolling_update.max_unavailable is None:
            strategy.rolling_update.max_unavailable = "25%"
        if strategy.rolling_update.max_surge is None:
            strategy.rolling_update.max_surge = "25%"
    if spec.revision_history_limit is None:
        spec.revision_history_limit = 10
    if spec.progress_deadline_seconds is None:
        spec.progress_deadline_seconds = 600
    _default_template(spec.template)


def _default_replica_set(replica_set: apps.ReplicaSet) -> None:
    spec = replica_set.spec
    if spec is None:
        return
    if spec.replicas is None:
        spec.replicas = 1
    _default_template(spec.template)


# --- batch ------------------------------------------------------------------------------


def _default_job(job: batch.Job) -> None:
    spec = job.spec
    if spec is None:
        return
    if spec.completions is None and spec.parallelism is None:
        spec.completions = 1
        spec.parallelism = 1
    if spec.parallelism is None:
        spec.parallelism = 1
    if spec.backoff_limit is None:
        spec.backoff_limit = 2**31 - 1 if spec.backoff_limit_per_index is not None else 6
    template_labels = spec.template.metadata.labels if spec.template and spec.template.metadata else None
    if template_labels and job.metadata is not None and not job.metadata.labels:
        job.metadata.labels = dict(template_labels)
    if spec.completion_mode is None:
        spec.completion_mode = "NonIndexed"
    if spec.suspend is None:
        spec.suspend = False
    if spec.pod_replacement_policy is None:
        spec.pod_replacement_policy = (
            "Failed" if spec.pod_failure_policy is not None else "TerminatingOrFailed"
        )
    _default_template(spec.template)


def _default_cron_job(cron_job: batch.CronJob) -> None:
    spec = cron_job.spec
    if spec is None:
        return
    if not spec.concurrency_policy:
        spec.concurrency_policy = "Allow"
    if spec.suspend is None:
        spec.suspend = False
    if spec.successful_jobs_history_limit is None:
        spec.successful_jobs_history_limit = 3
    if spec.failed_jobs_history_limit is None:
        spec.failed_jobs_history_limit = 1
    if spec.job_template is not None and spec.job_template.spec is not None:
        _default_template(spec.job_template.spec.template)


# --- autoscaling ------------------------------------------------------------------------


def _fill_rules(
    rules: autoscaling.HPAScalingRules | None, stabilization: int | None, policies: list[tuple[str, int, int]]
) -> autoscaling.HPAScalingRules:
    if rules is None:
        rules = autoscaling.HPAScalingRules()
    if rules.stabilization_window_seconds is None:
        rules.stabilization_window_seconds = stabilization
    if rules.select_policy is None:
        rules.select_policy = "Max"
    if rules.policies is None:
        rules.policies = [
            autoscaling.HPAScalingPolicy(type=t, value=v, period_seconds=p) for t, v, p in policies
        ]
    return rules


def _default_hpa(hpa: autoscaling.HorizontalPodAutoscaler) -> None:
    spec = hpa.spec
    if spec is None:
        return
    if spec.min_replicas is None:
        spec.min_replicas = 1
    if not spec.metrics:
        spec.metrics = [
            autoscaling.MetricSpec(
                type="Resource",
                resource=autoscaling.ResourceMetricSource(
                    name="cpu",
                    target=autoscaling.MetricTarget(
                        type="Utilization", average_utilization=DEFAULT_CPU_UTILIZATION
                    ),
                ),
            )
        ]
    behavior = spec.behavior
    if behavior is not None:
        behavior.scale_up = _fill_rules(behavior.scale_up, 0, [("Pods", 4, 15), ("Percent", 100, 15)])
        behavior.scale_down = _fill_rules(behavior.scale_down, None, [("Percent", 100, 15)])


_DEFAULTERS: dict[type, Callable[[Any], None]] = {
    core.Pod: _default_pod,
    core.PodTemplateSpec: _default_template,
    core.Namespace: _default_namespace,
    core.Node: _default_node,
    core.Service: _default_service,
    core.Endpoints: _default_endpoints,
    core.ConfigMap: _default_config_map,
    apps.Deployment: _default_deployment,
    apps.ReplicaSet: _default_replica_set,
    batch.Job: _default_job,
    batch.CronJob: _default_cron_job,
    autoscaling.HorizontalPodAutoscaler: _default_hpa,
}


def has_defaults(cls: type) -> bool:
    """Whether :func:`apply_defaults` may change objects of class ``cls``."""
    return cls in _DEFAULTERS


def apply_defaults(obj: Any) -> Any:
    """Apply Kubernetes' defaults to ``obj`` in place and return it (kinds without defaults pass)."""
    defaulter = _DEFAULTERS.get(type(obj))
    if defaulter is not None:
        defaulter(obj)
    return obj
