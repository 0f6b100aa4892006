"""updateRefs (several refs at once, compare-and-swap on beforeOid, atomic) and an older server
that lacks some mutations, as GitHub Enterprise Server before they shipped."""

from test_behaviours import (CREATE_REF, assert_closed_for_good, main_sha, open_pr, pull,
                             repo_id)

UPDATE_REFS = """mutation($i: UpdateRefsInput!) { updateRefs(input: $i) { clientMutationId } }"""
ZERO = "0" * 40


def sha(emu, branch):
    r = emu.rest("GET", f"/repos/acme/fleet/git/ref/heads/{branch}")
    return r.json()["object"]["sha"] if r.status_code == 200 else None


def update_refs(emu, updates):
    return emu.gql(UPDATE_REFS, {"i": {"repositoryId": repo_id(emu), "refUpdates": updates}})


def test_a_forced_move_to_a_commit_with_changes_keeps_the_pr_open(emu):
    number = open_pr(emu)
    old = sha(emu, "promote/web")
    emu.ctl("POST", "commit", {"repo": "acme/fleet", "branch": "tmp", "files": {"x.yaml": "a: 1\n"}})
    new = sha(emu, "tmp")
    r = update_refs(emu, [
        {"name": "refs/heads/promote/web", "beforeOid": old, "afterOid": new, "force": True},
        {"name": "refs/heads/tmp", "beforeOid": new, "afterOid": ZERO},
    ])
    assert "errors" not in r, r
    assert sha(emu, "promote/web") == new and sha(emu, "tmp") is None
    assert pull(emu, number)["state"] == "open"


def test_a_stale_before_oid_changes_nothing(emu):
    open_pr(emu)
    old = sha(emu, "promote/web")
    base = main_sha(emu)
    emu.ctl("POST", "commit", {"repo": "acme/fleet", "branch": "tmp", "files": {"x.yaml": "a: 1\n"}})
    new = sha(emu, "tmp")
    r = update_refs(emu, [
        {"name": "refs/heads/tmp", "beforeOid": new, "afterOid": ZERO},
        {"name": "refs/heads/promote/web", "beforeOid": base, "afterOid": new, "force": True},
    ])
    assert r["errors"][0]["type"] == "UNPROCESSABLE", r
    # atomic: the first update was not applied either
    assert sha(emu, "tmp") == new and sha(emu, "promote/web") == old


def test_without_force_a_non_fast_forward_is_refused(emu):
    open_pr(emu)
    old = sha(emu, "promote/web")
    r = update_refs(emu, [{"name": "refs/heads/promote/web", "beforeOid": old, "afterOid": main_sha(emu)}])
    assert r["errors"][0]["type"] == "UNPROCESSABLE", r
    assert sha(emu, "promote/web") == old


def test_moving_the_head_back_onto_the_base_closes_the_pr_for_good(emu):
    number = open_pr(emu)
    r = update_refs(emu, [{"name": "refs/heads/promote/web", "beforeOid": sha(emu, "promote/web"),
                           "afterOid": main_sha(emu), "force": True}])
    assert "errors" not in r, r
    assert_closed_for_good(emu, number)


def test_a_zero_before_oid_means_the_ref_must_not_exist(emu):
    base = main_sha(emu)
    assert "errors" not in update_refs(emu, [{"name": "refs/heads/new", "beforeOid": ZERO, "afterOid": base}])
    r = update_refs(emu, [{"name": "refs/heads/new", "beforeOid": ZERO, "afterOid": base}])
    assert r["errors"][0]["type"] == "UNPROCESSABLE", r


def test_an_older_server_answers_undefined_field(emu):
    emu.ctl("POST", "schema", {"hide_mutations": ["createRef"]})
    r = emu.gql(CREATE_REF, {"i": {"repositoryId": repo_id(emu), "name": "refs/heads/x", "oid": main_sha(emu)}})
    assert r["errors"][0]["extensions"]["code"] == "undefinedField", r
    assert r["errors"][0]["message"] == "Field 'createRef' doesn't exist on type 'Mutation'"
    assert "data" not in r
    assert sha(emu, "x") is None
    emu.ctl("POST", "schema", {"hide_mutations": []})
