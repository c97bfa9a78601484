"""The core (``v1``) API group: Pod, Node, Service, Endpoints, Namespace, Event, ConfigMap…"""

from __future__ import annotations

from typing import Any

from orchestra.api._model import IntOrString, QuantityValue, extra_field, field, model
from orchestra.api.meta import Condition, LabelSelectorSpec, ObjectMeta

__all__ = [
    # references
    "ObjectReference",
    "LocalObjectReference",
    # namespaces
    "NamespaceSpec",
    "NamespaceCondition",
    "NamespaceStatus",
    "Namespace",
    # containers
    "ContainerPort",
    "ObjectFieldSelector",
    "ResourceFieldSelector",
    "ConfigMapKeySelector",
    "SecretKeySelector",
    "EnvVarSource",
    "EnvVar",
    "ConfigMapEnvSource",
    "SecretEnvSource",
    "EnvFromSource",
    "ResourceRequirements",
    "ExecAction",
    "HTTPHeader",
    "HTTPGetAction",
    "TCPSocketAction",
    "GRPCAction",
    "Probe",
    "VolumeMount",
    "Capabilities",
    "SecurityContext",
    "Container",
    # volumes
    "EmptyDirVolumeSource",
    "KeyToPath",
    "ConfigMapVolumeSource",
    "SecretVolumeSource",
    "HostPathVolumeSource",
    "PersistentVolumeClaimVolumeSource",
    "Volume",
    # scheduling
    "Toleration",
    "NodeSelectorRequirement",
    "NodeSelectorTerm",
    "NodeSelector",
    "PreferredSchedulingTerm",
    "NodeAffinity",
    "PodAffinityTerm",
    "WeightedPodAffinityTerm",
    "PodAffinity",
    "PodAntiAffinity",
    "Affinity",
    "TopologySpreadConstraint",
    # pods
    "PodSecurityContext",
    "PodReadinessGate",
    "PodSpec",
    "PodCondition",
    "ContainerStateWaiting",
    "ContainerStateRunning",
    "ContainerStateTerminated",
    "ContainerState",
    "ContainerStatus",
    "PodIP",
    "HostIP",
    "PodStatus",
    "Pod",
    "PodTemplateSpec",
    "Binding",
    # nodes
    "Taint",
    "NodeSpec",
    "NodeCondition",
    "NodeAddress",
    "NodeSystemInfo",
    "ContainerImage",
    "NodeStatus",
    "Node",
    # services
    "ServicePort",
    "ClientIPConfig",
    "SessionAffinityConfig",
    "ServiceSpec",
    "LoadBalancerIngress",
    "LoadBalancerStatus",
    "ServiceStatus",
    "Service",
    # endpoints
    "EndpointAddress",
    "EndpointPort",
    "EndpointSubset",
    "Endpoints",
    # events, config
    "EventSource",
    "EventSeries",
    "Event",
    "ConfigMap",
]


# --- references -------------------------------------------------------------------------


@model
class ObjectReference:
    """A reference to any object: kind, namespace, name, uid (and optionally a field)."""

    kind: str | None = field()
    namespace: str | None = field()
    name: str | None = field()
    uid: str | None = field()
    api_version: str | None = field()
    resource_version: str | None = field()
    field_path: str | None = field()
    extra: dict = extra_field()


@model
class LocalObjectReference:
    """A reference by name to an object in the same namespace."""

    name: str | None = field()
    extra: dict = extra_field()


# --- namespaces -------------------------------------------------------------------------


@model
class NamespaceSpec:
    """What a namespace must do before it is removed (its finalizers)."""

    finalizers: list[str] | None = field()
    extra: dict = extra_field()


@model
class NamespaceCondition:
    """One observed condition of a namespace."""

    type: str | None = field()
    status: str | None = field()
    last_transition_time: str | None = field()
    reason: str | None = field()
    message: str | None = field()
    extra: dict = extra_field()


@model
class NamespaceStatus:
    """A namespace's phase (Active or Terminating) and conditions."""

    phase: str | None = field()
    conditions: list[NamespaceCondition] | None = field()
    extra: dict = extra_field()


@model
class Namespace:
    """A scope for names; most objects live in one."""

    api_version: str | None = field()
    kind: str | None = field()
    metadata: ObjectMeta | None = field()
    spec: NamespaceSpec | None = field()
    status: NamespaceStatus | None = field()
    extra: dict = extra_field()


# --- containers -------------------------------------------------------------------------


@model
class ContainerPort:
    """A port a container listens on."""

    name: str | None = field()
    host_port: int | None = field()
    container_port: int | None = field()
    protocol: str | None = field()
    host_ip: str | None = field(wire="hostIP")
    extra: dict = extra_field()


@model
class ObjectFieldSelector:
    """Selects a field of the pod (``metadata.name``, ``status.podIP``…) for an env var."""

    api_version: str | None = field()
    field_path: str | None = field()
    extra: dict = extra_field()


@model
class ResourceFieldSelector:
    """Selects a container resource (``limits.cpu``…) for an env var."""

    container_name: str | None = field()
    resource: str | None = field()
    divisor: QuantityValue | None = field()
    extra: dict = extra_field()


@model
class ConfigMapKeySelector:
    """Selects one key of a ConfigMap."""

    name: str | None = field()
    key: str | None = field()
    optional: bool | None = field()
    extra: dict = extra_field()


@model
class SecretKeySelector:
    """Selects one key of a Secret."""

    name: str | None = field()
    key: str | None = field()
    optional: bool | None = field()
    extra: dict = extra_field()


@model
class EnvVarSource:
    """Where an env var's value comes from, when not given literally."""

    field_ref: ObjectFieldSelector | None = field()
    resource_field_ref: ResourceFieldSelector | None = field()
    config_map_key_ref: ConfigMapKeySelector | None = field()
    secret_key_ref: SecretKeySelector | None = field()
    extra: dict = extra_field()


@model
class EnvVar:
    """One environment variable of a container."""

    name: str | None = field()
    value: str | None = field()
    value_from: EnvVarSource | None = field()
    extra: dict = extra_field()


@model
class ConfigMapEnvSource:
    """All keys of a ConfigMap as env vars."""

    name: str | None = field()
    optional: bool | None = field()
    extra: dict = extra_field()


@model
class SecretEnvSource:
    """All keys of a Secret as env vars."""

    name: str | None = field()
    optional: bool | None = field()
    extra: dict = extra_field()


@model
class EnvFromSource:
    """A source of many env vars at once."""

    prefix: str | None = field()
    config_map_ref: ConfigMapEnvSource | None = field()
    secret_ref: SecretEnvSource | None = field()
    extra: dict = extra_field()


@model
class ResourceRequirements:
    """Compute resources a container requests and is limited to (quantities as written)."""

    limits: dict[str, QuantityValue] | None = field()
    requests: dict[str, QuantityValue] | None = field()
    claims: list[dict[str, Any]] | None = field()
    extra: dict = extra_field()


@model
class ExecAction:
    """Run a command inside the container."""

    command: list[str] | None = field()
    extra: dict = extra_field()


@model
class HTTPHeader:
    """One header of an HTTP probe."""

    name: str | None = field()
    value: str | None = field()
    extra: dict = extra_field()


@model
class HTTPGetAction:
    """An HTTP GET against the container."""

    path: str | None = field()
    port: IntOrString | None = field()
    host: str | None = field()
    scheme: str | None = field()
    http_headers: list[HTTPHeader] | None = field()
    extra: dict = extra_field()


@model
class TCPSocketAction:
    """A TCP connect to the container."""

    port: IntOrString | None = field()
    host: str | None = field()
    extra: dict = extra_field()


@model
class GRPCAction:
    """A gRPC health check against the container."""

    port: int | None = field()
    service: str | None = field()
    extra: dict = extra_field()


@model
class Probe:
    """A health check: one handler (exec, httpGet, tcpSocket, grpc) plus timing."""

    exec: ExecAction | None = field()
    http_get: HTTPGetAction | None = field()
    tcp_socket: TCPSocketAction | None = field()
    grpc: GRPCAction | None = field()
    initial_delay_seconds: int | None = field()
    timeout_seconds: int | None = field()
    period_seconds: int | None = field()
    success_threshold: int | None = field()
    failure_threshold: int | None = field()
    termination_grace_period_seconds: int | None = field()
    extra: dict = extra_field()


@model
class VolumeMount:
    """Where a pod volume appears inside a container."""

    name: str | None = field()
    read_only: bool | None = field()
    mount_path: str | None = field()
    sub_path: str | None = field()
    mount_propagation: str | None = field()
    sub_path_expr: str | None = field()
    extra: dict = extra_field()


@model
class Capabilities:
    """Linux capabilities added to and dropped from a container."""

    add: list[str] | None = field()
    drop: list[str] | None = field()
    extra: dict = extra_field()


@model
class SecurityContext:
    """A container's security settings."""

    capabilities: Capabilities | None = field()
    privileged: bool | None = field()
    run_as_user: int | None = field()
    run_as_group: int | None = field()
    run_as_non_root: bool | None = field()
    read_only_root_filesystem: bool | None = field()
    allow_privilege_escalation: bool | None = field()
    extra: dict = extra_field()


@model
class Container:
    """One container of a pod."""

    name: str | None = field()
    image: str | None = field()
    command: list[str] | None = field()
    args: list[str] | None = field()
    working_dir: str | None = field()
    ports: list[ContainerPort] | None = field()
    env_from: list[EnvFromSource] | None = field()
    env: list[EnvVar] | None = field()
    resources: ResourceRequirements | None = field()
    restart_policy: str | None = field()
    volume_mounts: list[VolumeMount] | None = field()
    liveness_probe: Probe | None = field()
    readiness_probe: Probe | None = field()
    startup_probe: Probe | None = field()
    lifecycle: dict[str, Any] | None = field()
    termination_message_path: str | None = field()
    termination_message_policy: str | None = field()
    image_pull_policy: str | None = field()
    security_context: SecurityContext | None = field()
    stdin: bool | None = field()
    stdin_once: bool | None = field()
    tty: bool | None = field()
    extra: dict = extra_field()


# --- volumes ----------------------------------------------------------------------------


@model
class EmptyDirVolumeSource:
    """A scratch directory that lives as long as the pod."""

    medium: str | None = field()
    size_limit: QuantityValue | None = field()
    extra: dict = extra_field()


@model
class KeyToPath:
    """Projects one key of a ConfigMap or Secret to a file path."""

    key: str | None = field()
    path: str | None = field()
    mode: int | None = field()
    extra: dict = extra_field()


@model
class ConfigMapVolumeSource:
    """A volume filled with the keys of a ConfigMap."""

    name: str | None = field()
    items: list[KeyToPath] | None = field()
    default_mode: int | None = field()
    optional: bool | None = field()
    extra: dict = extra_field()


@model
class SecretVolumeSource:
    """A volume filled with the keys of a Secret."""

    secret_name: str | None = field()
    items: list[KeyToPath] | None = field()
    default_mode: int | None = field()
    optional: bool | None = field()
    extra: dict = extra_field()


@model
class HostPathVolumeSource:
    """A directory of the node."""

    path: str | None = field()
    type: str | None = field()
    extra: dict = extra_field()


@model
class PersistentVolumeClaimVolumeSource:
    """A volume bound through a PersistentVolumeClaim."""

    claim_name: str | None = field()
    read_only: bool | None = field()
    extra: dict = extra_field()


@model
class Volume:
    """A named volume of a pod, with exactly one source."""

    name: str | None = field()
    empty_dir: EmptyDirVolumeSource | None = field()
    config_map: ConfigMapVolumeSource | None = field()
    secret: SecretVolumeSource | None = field()
    host_path: HostPathVolumeSource | None = field()
    persistent_volume_claim: PersistentVolumeClaimVolumeSource | None = field()
    extra: dict = extra_field()


# --- scheduling -------------------------------------------------------------------------


@model
class Toleration:
    """Lets a pod schedule onto (or stay on) nodes with a matching taint."""

    key: str | None = field()
    operator: str | None = field()
    value: str | None = field()
    effect: str | None = field()
    toleration_seconds: int | None = field()
    extra: dict = extra_field()


@model
class NodeSelectorRequirement:
    """``key`` ``operator`` (In, NotIn, Exists, DoesNotExist, Gt, Lt) ``values`` on node labels/fields."""

    key: str | None = field()
    operator: str | None = field()
    values: list[str] | None = field()
    extra: dict = extra_field()


@model
class NodeSelectorTerm:
    """Requirements that must all hold (terms of a NodeSelector are ORed)."""

    match_expressions: list[NodeSelectorRequirement] | None = field()
    match_fields: list[NodeSelectorRequirement] | None = field()
    extra: dict = extra_field()


@model
class NodeSelector:
    """Node selector terms, ORed."""

    node_selector_terms: list[NodeSelectorTerm] | None = field()
    extra: dict = extra_field()


@model
class PreferredSchedulingTerm:
    """A weighted node preference."""

    weight: int | None = field()
    preference: NodeSelectorTerm | None = field()
    extra: dict = extra_field()


@model
class NodeAffinity:
    """Hard and soft rules on the node a pod lands on."""

    required_during_scheduling_ignored_during_execution: NodeSelector | None = field()
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] | None = (
        field()
    )
    extra: dict = extra_field()


@model
class PodAffinityTerm:
    """Pods matching ``label_selector`` in ``namespaces``, within one ``topology_key`` domain."""

    label_selector: LabelSelectorSpec | None = field()
    namespaces: list[str] | None = field()
    topology_key: str | None = field()
    namespace_selector: LabelSelectorSpec | None = field()
    match_label_keys: list[str] | None = field()
    mismatch_label_keys: list[str] | None = field()
    extra: dict = extra_field()


@model
class WeightedPodAffinityTerm:
    """A weighted pod (anti-)affinity preference."""

    weight: int | None = field()
    pod_affinity_term: PodAffinityTerm | None = field()
    extra: dict = extra_field()


@model
class PodAffinity:
    """Rules to co-locate a pod with other pods."""

    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] | None = field()
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] | None = (
        field()
    )
    extra: dict = extra_field()


@model
class PodAntiAffinity:
    """Rules to keep a pod away from other pods."""

    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] | None = field()
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] | None = (
        field()
    )
    extra: dict = extra_field()


@model
class Affinity:
    """Node affinity, pod affinity and pod anti-affinity of a pod."""

    node_affinity: NodeAffinity | None = field()
    pod_affinity: PodAffinity | None = field()
    pod_anti_affinity: PodAntiAffinity | None = field()
    extra: dict = extra_field()


@model
class TopologySpreadConstraint:
    """How evenly matching pods must spread over a topology domain."""

    max_skew: int | None = field()
    topology_key: str | None = field()
    when_unsatisfiable: str | None = field()
    label_selector: LabelSelectorSpec | None = field()
    min_domains: int | None = field()
    node_affinity_policy: str | None = field()
    node_taints_policy: str | None = field()
    match_label_keys: list[str] | None = field()
    extra: dict = extra_field()


# --- pods -------------------------------------------------------------------------------


@model
class PodSecurityContext:
    """Pod-wide security settings."""

    run_as_user: int | None = field()
    run_as_group: int | None = field()
    run_as_non_root: bool | None = field()
    supplemental_groups: list[int] | None = field()
    fs_group: int | None = field()
    sysctls: list[dict[str, Any]] | None = field()
    extra: dict = extra_field()


@model
class PodReadinessGate:
    """An extra condition type that must be True for the pod to be ready."""

    condition_type: str | None = field()
    extra: dict = extra_field()


@model
class PodSpec:
    """What a pod runs and how it is scheduled."""

    volumes: list[Volume] | None = field()
    init_containers: list[Container] | None = field()
    containers: list[Container] | None = field()
    ephemeral_containers: list[dict[str, Any]] | None = field()
    restart_policy: str | None = field()
    termination_grace_period_seconds: int | None = field()
    active_deadline_seconds: int | None = field()
    dns_policy: str | None = field()
    node_selector: dict[str, str] | None = field()
    service_account_name: str | None = field()
    service_account: str | None = field()
    automount_service_account_token: bool | None = field()
    node_name: str | None = field()
    host_network: bool | None = field()
    host_pid: bool | None = field(wire="hostPID")
    host_ipc: bool | None = field(wire="hostIPC")
    share_process_namespace: bool | None = field()
    security_context: PodSecurityContext | None = field()
    image_pull_secrets: list[LocalObjectReference] | None = field()
    hostname: str | None = field()
    subdomain: str | None = field()
    affinity: Affinity | None = field()
    scheduler_name: str | None = field()
    tolerations: list[Toleration] | None = field()
    host_aliases: list[dict[str, Any]] | None = field()
    priority_class_name: str | None = field()
    priority: int | None = field()
    dns_config: dict[str, Any] | None = field()
    readiness_gates: list[PodReadinessGate] | None = field()
    runtime_class_name: str | None = field()
    enable_service_links: bool | None = field()
    preemption_policy: str | None = field()
    overhead: dict[str, QuantityValue] | None = field()
    topology_spread_constraints: list[TopologySpreadConstraint] | None = field()
    set_hostname_as_fqdn: bool | None = field(wire="setHostnameAsFQDN")
    os: dict[str, Any] | None = field()
    host_users: bool | None = field()
    scheduling_gates: list[dict[str, Any]] | None = field()
    resource_claims: list[dict[str, Any]] | None = field()
    extra: dict = extra_field()


@model
class PodCondition:
    """One observed condition of a pod (PodScheduled, Initialized, ContainersReady, Ready)."""

    type: str | None = field()
    status: str | None = field()
    last_probe_time: str | None = field()
    last_transition_time: str | None = field()
    reason: str | None = field()
    message: str | None = field()
    extra: dict = extra_field()


@model
class ContainerStateWaiting:
    """A container that is not running yet."""

    reason: str | None = field()
    message: str | None = field()
    extra: dict = extra_field()


@model
class ContainerStateRunning:
    """A running container."""

    started_at: str | None = field()
    extra: dict = extra_field()


@model
class ContainerStateTerminated:
    """A container that has exited."""

    exit_code: int | None = field()
    signal: int | None = field()
    reason: str | None = field()
    message: str | None = field()
    started_at: str | None = field()
    finished_at: str | None = field()
    container_id: str | None = field(wire="containerID")
    extra: dict = extra_field()


@model
class ContainerState:
    """Exactly one of waiting, running, terminated."""

    waiting: ContainerStateWaiting | None = field()
    running: ContainerStateRunning | None = field()
    terminated: ContainerStateTerminated | None = field()
    extra: dict = extra_field()


@model
class ContainerStatus:
    """What the node agent observed of one container."""

    name: str | None = field()
    state: ContainerState | None = field()
    last_state: ContainerState | None = field()
    ready: bool | None = field()
    restart_count: int | None = field()
    image: str | None = field()
    image_id: str | None = field(wire="imageID")
    container_id: str | None = field(wire="containerID")
    started: bool | None = field()
    allocated_resources: dict[str, QuantityValue] | None = field()
    resources: ResourceRequirements | None = field()
    extra: dict = extra_field()


@model
class PodIP:
    """One IP address of a pod."""

    ip: str | None = field()
    extra: dict = extra_field()


@model
class HostIP:
    """One IP address of a pod's node."""

    ip: str | None = field()
    extra: dict = extra_field()


@model
class PodStatus:
    """The observed state of a pod."""

    phase: str | None = field()
    conditions: list[PodCondition] | None = field()
    message: str | None = field()
    reason: str | None = field()
    nominated_node_name: str | None = field()
    host_ip: str | None = field(wire="hostIP")
    host_ips: list[HostIP] | None = field(wire="hostIPs")
    pod_ip: str | None = field(wire="podIP")
    pod_ips: list[PodIP] | None = field(wire="podIPs")
    start_time: str | None = field()
    init_container_statuses: list[ContainerStatus] | None = field()
    container_statuses: list[ContainerStatus] | None = field()
    qos_class: str | None = field()
    ephemeral_container_statuses: list[ContainerStatus] | None = field()
    extra: dict = extra_field()


@model
class Pod:
    """A group of containers scheduled together onto one node."""

    api_version: str | None = field()
    kind: str | None = field()
    metadata: ObjectMeta | None = field()
    spec: PodSpec | None = field()
    status: PodStatus | None = field()
    extra: dict = extra_field()


@model
class PodTemplateSpec:
    """The pod a workload creates: metadata and spec."""

    metadata: ObjectMeta | None = field()
    spec: PodSpec | None = field()
    extra: dict = extra_field()


@model
class Binding:
    """Binds a pod to a node (the ``pods/binding`` subresource)."""

    api_version: str | None = field()
    kind: str | None = field()
    metadata: ObjectMeta | None = field()
    target: ObjectReference | None = field()
    extra: dict = extra_field()


# --- nodes ------------------------------------------------------------------------------


@model
class Taint:
    """Repels pods that do not tolerate it."""

    key: str | None = field()
    value: str | None = field()
    effect: str | None = field()
    time_added: str | None = field()
    extra: dict = extra_field()


@model
class NodeSpec:
    """How a node is configured: pod CIDR, taints, whether it takes new pods."""

    pod_cidr: str | None = field(wire="podCIDR")
    pod_cidrs: list[str] | None = field(wire="podCIDRs")
    provider_id: str | None = field(wire="providerID")
    unschedulable: bool | None = field()
    taints: list[Taint] | None = field()
    extra: dict = extra_field()


@model
class NodeCondition:
    """One observed condition of a node (Ready, MemoryPressure, …)."""

    type: str | None = field()
    status: str | None = field()
    last_heartbeat_time: str | None = field()
    last_transition_time: str | None = field()
    reason: str | None = field()
    message: str | None = field()
    extra: dict = extra_field()


@model
class NodeAddress:
    """One address of a node (InternalIP, Hostname, …)."""

    type: str | None = field()
    address: str | None = field()
    extra: dict = extra_field()


@model
class NodeSystemInfo:
    """Facts about the node's machine and software."""

    machine_id: str | None = field(wire="machineID")
    system_uuid: str | None = field(wire="systemUUID")
    boot_id: str | None = field(wire="bootID")
    kernel_version: str | None = field()
    os_image: str | None = field()
    container_runtime_version: str | None = field()
    kubelet_version: str | None = field()
    kube_proxy_version: str | None = field()
    operating_system: str | None = field()
    architecture: str | None = field()
    extra: dict = extra_field()


@model
class ContainerImage:
    """An image present on a node."""

    names: list[str] | None = field()
    size_bytes: int | None = field()
    extra: dict = extra_field()


@model
class NodeStatus:
    """The observed state of a node: resources, conditions, addresses, system info."""

    capacity: dict[str, QuantityValue] | None = field()
    allocatable: dict[str, QuantityValue] | None = field()
    phase: str | None = field()
    conditions: list[NodeCondition] | None = field()
    addresses: list[NodeAddress] | None = field()
    daemon_endpoints: dict[str, Any] | None = field()
    node_info: NodeSystemInfo | None = field()
    images: list[ContainerImage] | None = field()
    volumes_in_use: list[str] | None = field()
    volumes_attached: list[dict[str, Any]] | None = field()
    extra: dict = extra_field()


@model
class Node:
    """A machine that runs pods."""

    api_version: str | None = field()
    kind: str | None = field()
    metadata: ObjectMeta | None = field()
    spec: NodeSpec | None = field()
    status: NodeStatus | None = field()
    extra: dict = extra_field()


# --- services ---------------------------------------------------------------------------


@model
class ServicePort:
    """One port a Service exposes and where it forwards to."""

    name: str | None = field()
    protocol: str | None = field()
    app_protocol: str | None = field()
    port: int | None = field()
    target_port: IntOrString | None = field()
    node_port: int | None = field()
    extra: dict = extra_field()


@model
class ClientIPConfig:
    """ClientIP session affinity settings."""

    timeout_seconds: int | None = field()
    extra: dict = extra_field()


@model
class SessionAffinityConfig:
    """Session affinity settings of a Service."""

    client_ip: ClientIPConfig | None = field(wire="clientIP")
    extra: dict = extra_field()


@model
class ServiceSpec:
    """What a Service selects and exposes."""

    ports: list[ServicePort] | None = field()
    selector: dict[str, str] | None = field()
    cluster_ip: str | None = field(wire="clusterIP")
    cluster_ips: list[str] | None = field(wire="clusterIPs")
    type: str | None = field()
    external_ips: list[str] | None = field(wire="externalIPs")
    session_affinity: str | None = field()
    load_balancer_ip: str | None = field(wire="loadBalancerIP")
    load_balancer_source_ranges: list[str] | None = field()
    external_name: str | None = field()
    external_traffic_policy: str | None = field()
    health_check_node_port: int | None = field()
    publish_not_ready_addresses: bool | None = field()
    session_affinity_config: SessionAffinityConfig | None = field()
    ip_families: list[str] | None = field()
    ip_family_policy: str | None = field()
    allocate_load_balancer_node_ports: bool | None = field()
    load_balancer_class: str | None = field()
    internal_traffic_policy: str | None = field()
    extra: dict = extra_field()


@model
class LoadBalancerIngress:
    """One ingress point of a load balancer."""

    ip: str | None = field()
    hostname: str | None = field()
    ip_mode: str | None = field()
    ports: list[dict[str, Any]] | None = field()
    extra: dict = extra_field()


@model
class LoadBalancerStatus:
    """A Service's load balancer, once provisioned."""

    ingress: list[LoadBalancerIngress] | None = field()
    extra: dict = extra_field()


@model
class ServiceStatus:
    """The observed state of a Service."""

    load_balancer: LoadBalancerStatus | None = field()
    conditions: list[Condition] | None = field()
    extra: dict = extra_field()


@model
class Service:
    """A stable virtual address in front of a set of pods."""

    api_version: str | None = field()
    kind: str | None = field()
    metadata: ObjectMeta | None = field()
    spec: ServiceSpec | None = field()
    status: ServiceStatus | None = field()
    extra: dict = extra_field()


# --- endpoints --------------------------------------------------------------------------


@model
class EndpointAddress:
    """One backend address of a Service."""

    ip: str | None = field()
    hostname: str | None = field()
    node_name: str | None = field()
    target_ref: ObjectReference | None = field()
    extra: dict = extra_field()


@model
class EndpointPort:
    """One backend port of a Service."""

    name: str | None = field()
    port: int | None = field()
    protocol: str | None = field()
    app_protocol: str | None = field()
    extra: dict = extra_field()


@model
class EndpointSubset:
    """Addresses that share the same ports."""

    addresses: list[EndpointAddress] | None = field()
    not_ready_addresses: list[EndpointAddress] | None = field()
    ports: list[EndpointPort] | None = field()
    extra: dict = extra_field()


@model
class Endpoints:
    """The backends of a Service, kept by the endpoints controller."""

    api_version: str | None = field()
    kind: str | None = field()
    metadata: ObjectMeta | None = field()
    subsets: list[EndpointSubset] | None = field()
    extra: dict = extra_field()


# --- events, config ---------------------------------------------------------------------


@model
class EventSource:
    """The component (and host) that reported an event."""

    component: str | None = field()
    host: str | None = field()
    extra: dict = extra_field()


@model
class EventSeries:
    """A series of repeated events."""

    count: int | None = field()
    last_observed_time: str | None = field()
    extra: dict = extra_field()


@model
class Event:
    """A report of something that happened to an object (``v1`` core events)."""

    api_version: str | None = field()
    kind: str | None = field()
    metadata: ObjectMeta | None = field()
    involved_object: ObjectReference | None = field()
    reason: str | None = field()
    message: str | None = field()
    source: EventSource | None = field()
    first_timestamp: str | None = field()
    last_timestamp: str | None = field()
    count: int | None = field()
    type: str | None = field()
    event_time: str | None = field()
    series: EventSeries | None = field()
    action: str | None = field()
    related: ObjectReference | None = field()
    reporting_component: str | None = field()
    reporting_instance: str | None = field()
    extra: dict = extra_field()


@model
class ConfigMap:
    """Non-secret configuration as key/value pairs."""

    api_version: str | None = field()
    kind: str | None = field()
    metadata: ObjectMeta | None = field()
    immutable: bool | None = field()
    data: dict[str, str] | None = field()
    binary_data: dict[str, str] | None = field()
    extra: dict = extra_field()
