"""Bearer tokens, client certificates, roles and Kubernetes' 403 messages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra.apiserver.auth import (
    Attributes,
    Authenticator,
    TokenFile,
    TokenFileError,
    authorize,
    forbidden_message,
    role_for_groups,
    user_from_certificate,
)
from orchestra.apiserver.errors import Forbidden, Unauthorized
from orchestra.apiserver.request import ADMIN, NODE, READ_ONLY, UserInfo

TOKENS = TokenFile.parse(
    'admintoken,admin,1,"system:masters"\n'
    'nodetoken,system:node:n1,2,"system:nodes,system:authenticated"\n'
    "# a comment\n"
    "\n"
    "viewertoken,viewer,3\n"
)
NODE_USER = UserInfo("system:node:n1", NODE, ("system:nodes",))
VIEWER = UserInfo("viewer", READ_ONLY)


def test_token_file_roles_from_groups():
    assert TOKENS.lookup("admintoken") == UserInfo("admin", ADMIN, ("system:masters",))
    assert TOKENS.lookup("nodetoken").role == NODE
    assert TOKENS.lookup("nodetoken").groups == ("system:nodes", "system:authenticated")
    assert TOKENS.lookup("viewertoken") == UserInfo("viewer", READ_ONLY, ())
    assert TOKENS.lookup("nope") is None


def test_token_file_errors_name_the_line(tmp_path):
    with pytest.raises(TokenFileError, match="line 2"):
        TokenFile.parse("a,b,c\nonly-two,columns\n", "tokens.csv")
    with pytest.raises(TokenFileError, match="missing.csv"):
        TokenFile.load(tmp_path / "missing.csv")


def test_roles():
    assert role_for_groups(("x", "system:masters")) == ADMIN
    assert role_for_groups(("system:nodes",)) == NODE
    assert role_for_groups(()) == READ_ONLY


def test_bearer_token_authentication():
    auth = Authenticator(TOKENS)
    assert auth.authenticate({"authorization": "Bearer admintoken"}, "/api").name == "admin"
    assert auth.authenticate({"authorization": "bearer viewertoken"}, "/api").name == "viewer"
    for header in ("Bearer wrong", "Basic YTpi", "Bearer ", "Bearer"):
        with pytest.raises(Unauthorized):
            auth.authenticate({"authorization": header}, "/api")
    with pytest.raises(Unauthorized):
        auth.authenticate({}, "/api/v1/pods")


def test_public_paths_and_anonymous_admin():
    assert Authenticator(TOKENS).authenticate({}, "/healthz").role == READ_ONLY
    assert Authenticator(TOKENS).authenticate({}, "/version").name == "system:anonymous"
    anonymous = Authenticator(TOKENS, anonymous_admin=True).authenticate({}, "/api/v1/pods")
    assert anonymous.role == ADMIN
    # A bad token is refused even when anonymous requests are admitted.
    with pytest.raises(Unauthorized):
        Authenticator(TOKENS, anonymous_admin=True).authenticate({"authorization": "Bearer bad"}, "/api")


def test_user_from_certificate():
    peercert = {"subject": ((("commonName", "system:node:n2"),), (("organizationName", "system:nodes"),))}
    assert user_from_certificate(peercert) == UserInfo("system:node:n2", NODE, ("system:nodes",))
    assert user_from_certificate({}) is None
    assert user_from_certificate({"subject": ((("organizationName", "x"),),)}) is None


def test_forbidden_messages_match_kubernetes():
    attrs = Attributes(verb="create", resource="pods", namespace="default")
    assert forbidden_message(UserInfo("x"), attrs) == (
        'pods is forbidden: User "x" cannot create resource "pods" in API group "" in the namespace "default"'
    )
    attrs = Attributes(verb="update", resource="deployments", subresource="scale", group="apps", namespace="ns", name="web")
    assert forbidden_message(UserInfo("x"), attrs) == (
        'deployments.apps "web" is forbidden: User "x" cannot update resource "deployments/scale" '
        'in API group "apps" in the namespace "ns"'
    )
    attrs = Attributes(verb="delete", resource="nodes", name="n1")
    assert forbidden_message(UserInfo("x"), attrs).endswith('in API group "" at the cluster scope')


def test_read_only_reads_but_never_writes():
    for verb in ("get", "list", "watch"):
        authorize(VIEWER, Attributes(verb=verb, resource="pods", namespace="default"))
    with pytest.raises(Forbidden) as info:
        authorize(VIEWER, Attributes(verb="create", resource="pods", namespace="default"))
    status = info.value.status()
    assert status["code"] == 403 and status["reason"] == "Forbidden"
    assert status["details"] == {"kind": "pods"}


@pytest.mark.parametrize(
    "verb,resource,sub,name,allowed",
    [
        ("update", "nodes", "status", "n1", True),
        ("patch", "nodes", "", "n1", True),
        ("create", "nodes", "", "n1", True),
        ("patch", "nodes", "status", "n2", False),  # not its own node
        ("delete", "nodes", "", "n1", False),
        ("patch", "pods", "status", "p", True),
        ("delete", "pods", "", "p", True),
        ("create", "pods", "", "p", False),
        ("update", "pods", "", "p", False),
        ("create", "pods", "binding", "p", False),
        ("create", "events", "", "", True),
        ("update", "leases", "", "n1", True),
        ("create", "deployments", "", "", False),
        ("create", "configmaps", "", "", False),
    ],
)
def test_node_role(verb, resource, sub, name, allowed):
    attrs = Attributes(verb=verb, resource=resource, subresource=sub, name=name, namespace="" if resource == "nodes" else "ns")
    if allowed:
        authorize(NODE_USER, attrs)
    else:
        with pytest.raises(Forbidden):
            authorize(NODE_USER, attrs)


def test_node_without_node_name_prefix_may_write_any_node():
    authorize(UserInfo("agent", NODE), Attributes(verb="patch", resource="nodes", subresource="status", name="n9"))


@given(verb=st.sampled_from(["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]),
       resource=st.sampled_from(["pods", "nodes", "deployments", "events"]))
def test_admin_may_do_everything(verb, resource):
    authorize(UserInfo("admin", ADMIN), Attributes(verb=verb, resource=resource))


def test_a_node_may_create_nodes_leaving_the_name_to_admission():
    from orchestra.apiserver.auth import Attributes, authorize
    from orchestra.apiserver.request import NODE, UserInfo

    user = UserInfo("system:node:n1", role=NODE, groups=("system:nodes",))
    authorize(user, Attributes(verb="create", resource="nodes"))
    authorize(user, Attributes(verb="update", resource="nodes", name="n1"))
    with pytest.raises(Forbidden):
        authorize(user, Attributes(verb="update", resource="nodes", name="n2"))
