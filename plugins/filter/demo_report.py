# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter hostnet.macvlan.demo_report: the demo's verdicts and printed report (playbooks/demo.yml, stage 7)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: demo_report
short_description: The demo's reachability verdicts and its printed report
version_added: 0.2.0
description:
  - Compares each reachability probe with the answer it expected, and writes the report the demo prints - the
    links and parents read back with C(hostnet.macvlan.macvlan_info) in every namespace of the lab, and the
    reachability matrix, expected against observed.
  - A link moved into another namespace knows its parent only by ifindex; the report resolves it against the
    parents read in the host's namespace.
  - Used by the hostnet.macvlan.demo playbook.
positional: _input
options:
  _input:
    description:
      - The registered C(results) of the C(hostnet.macvlan.macvlan_info) loop over the lab's namespaces (each with
        C(item), the namespace, C(links), C(parents), C(kernel)).
    type: list
    elements: dict
    required: true
  host_ns:
    description: The host's namespace (its result lists the parents).
    type: str
    required: true
  stages:
    description:
      - The probe stages in order, each C({name, title, probes}) where C(probes) are the registered C(results) of a
        C(hostnet.macvlan.reachability) loop whose items are C({from, to, expect, why}).
    type: list
    elements: dict
    required: true
  parent_notes:
    description: Parent name to what the lab gives it (printed in the parents table).
    type: dict
    default: {}
  shim_name:
    description: The name of the host-access shim (noted in the links table).
    type: str
    default: ""
  probe_count:
    description: Echo requests per probe (printed in the matrix's heading).
    type: int
    default: 2
author:
  - hostnet.macvlan maintainers (@hostnet)
"""

EXAMPLES = r"""
- name: Report the lab and the reachability matrix
  ansible.builtin.debug:
    msg: "{{ (facts.results | hostnet.macvlan.demo_report(host_ns='lab-host', stages=stages)).text }}"
"""

RETURN = r"""
_value:
  description: The verdicts and the report.
  type: dict
  contains:
    verdicts:
      description:
        - One row per probe, C({stage, from, to, address, expect, observed, as_expected, rtt_ms, why}), C(observed)
          V(reachable) or V(unreachable).
      type: list
      elements: dict
    unexpected:
      description: C(from -> to (address) expected X, observed Y) for each probe not as expected.
      type: list
      elements: str
    links:
      description: The rows of the links table, C({name, type, mode, parent, netns, mac, addresses, notes}), by parent.
      type: list
      elements: dict
    text:
      description: The printed report (links, parents, the matrix and the count of pairs as expected).
      type: str
"""

import re

from ansible.errors import AnsibleFilterError

LINK_ROW = "%-12s %-8s %-9s %-7s %-17s %-18s %-15s %s"
PARENT_ROW = "%-6s %-8s %-12s %-18s %s"
PROBE_ROW = "%-11s -> %-11s %-14s %-12s %-12s %s"
LINK_LOCAL = re.compile(r"^fe80:", re.IGNORECASE)


def _host_facts(facts, host_ns):
    for result in facts:
        if result.get("item") == host_ns:
            return result
    raise AnsibleFilterError("demo_report: no macvlan_info result for the host namespace %s" % host_ns)


def link_rows(facts, host_facts, shim_name):
    """The links table: one row per link of every namespace, sorted by parent (stable)."""
    parents = host_facts.get("parents") or {}
    by_index = {parent.get("ifindex"): parent.get("name") for parent in parents.values()}
    rows = []
    for result in facts:
        for link in (result.get("links") or {}).values():
            parent = link.get("parent") or by_index.get(link.get("parent_ifindex")) or "?"
            notes = []
            if link.get("mode") == "source":
                notes += ["source_macs " + " ".join(link.get("source_macs") or []), "nodst %s" % link.get("nodst")]
            if link.get("mode") == "passthru":
                notes.append("nopromisc %s" % link.get("nopromisc"))
                if link.get("mac_address") == (parents.get(parent) or {}).get("mac_address", ""):
                    notes.append("the MAC of " + parent)
            if shim_name and link.get("name") == shim_name:
                notes.append("the host-access shim")
            for route in link.get("routes") or []:
                notes.append("route " + route["dest"] + (" via " + route["gateway"] if route.get("gateway") else ""))
            addresses = [a for a in link.get("addresses") or [] if not LINK_LOCAL.match(a)]
            rows.append(
                {
                    "name": link.get("name"),
                    "type": link.get("type"),
                    "mode": link.get("mode"),
                    "parent": parent,
                    "netns": result.get("item"),
                    "mac": link.get("mac_address"),
                    "addresses": ", ".join(addresses) or "-",
                    "notes": "; ".join(notes),
                }
            )
    return sorted(rows, key=lambda row: row["parent"])


def verdicts(stages):
    rows = []
    for stage in stages:
        for probe in stage.get("probes") or []:
            item = probe.get("item") or {}
            if "reachable" not in probe:
                raise AnsibleFilterError(
                    "demo_report: probe %s -> %s has no answer: %s"
                    % (item.get("from"), item.get("to"), probe.get("msg", "no result"))
                )
            observed = "reachable" if probe["reachable"] else "unreachable"
            rows.append(
                {
                    "stage": stage.get("name"),
                    "from": item.get("from"),
                    "to": item.get("to"),
                    "address": probe.get("dest"),
                    "expect": item.get("expect"),
                    "observed": observed,
                    "as_expected": observed == item.get("expect"),
                    "rtt_ms": probe.get("rtt_ms"),
                    "why": item.get("why"),
                }
            )
    return rows


def demo_report(facts, host_ns, stages, parent_notes=None, shim_name="", probe_count=2):
    if not isinstance(facts, list) or not all(isinstance(result, dict) for result in facts):
        raise AnsibleFilterError("demo_report: the input must be the macvlan_info loop results")
    if not isinstance(stages, list) or not all(isinstance(stage, dict) for stage in stages):
        raise AnsibleFilterError("demo_report: stages must be a list of {name, title, probes}")
    parent_notes = parent_notes or {}
    host_facts = _host_facts(facts, host_ns)
    links = link_rows(facts, host_facts, shim_name)
    rows = verdicts(stages)

    text = ["hostnet.macvlan demo lab, kernel %s" % host_facts.get("kernel"), ""]
    text.append("LINKS (read back with hostnet.macvlan.macvlan_info in each namespace)")
    text.append("  " + LINK_ROW % ("NAME", "TYPE", "MODE", "PARENT", "NAMESPACE", "MAC", "ADDRESSES", "NOTES"))
    for link in links:
        text.append(
            "  "
            + LINK_ROW
            % (
                link["name"],
                link["type"],
                link["mode"],
                link["parent"],
                link["netns"],
                link["mac"],
                link["addresses"],
                link["notes"],
            )
        )
    text += ["", "PARENTS (in %s; PROMISC is the IFF_PROMISC flag, PROMISCUITY the kernel's counter)" % host_ns]
    text.append("  " + PARENT_ROW % ("NAME", "PROMISC", "PROMISCUITY", "MAC", "LAB"))
    for parent in (host_facts.get("parents") or {}).values():
        name = parent.get("name")
        text.append(
            "  "
            + PARENT_ROW
            % (
                name,
                parent.get("promisc"),
                parent.get("promiscuity"),
                parent.get("mac_address"),
                parent_notes.get(name, ""),
            )
        )
        text.append("         children: " + ", ".join(link["name"] for link in links if link["parent"] == name))
    text += [
        "",
        "REACHABILITY MATRIX (hostnet.macvlan.reachability: %s ICMP echo requests sent from inside the sender's"
        " namespace)" % probe_count,
    ]
    for stage in stages:
        text += ["", stage.get("title") or stage.get("name") or ""]
        text.append("  " + PROBE_ROW % ("FROM", "TO", "ADDRESS", "EXPECTED", "OBSERVED", ""))
        for row in rows:
            if row["stage"] != stage.get("name"):
                continue
            verdict = "ok" if row["as_expected"] else "<<< NOT AS EXPECTED"
            text.append(
                "  " + PROBE_ROW % (row["from"], row["to"], row["address"], row["expect"], row["observed"], verdict)
            )
            text.append("      %s" % row["why"])
    good = [row for row in rows if row["as_expected"]]
    text += ["", "%d of %d pairs as expected." % (len(good), len(rows))]
    unexpected = [
        "%s -> %s (%s) expected %s, observed %s"
        % (row["from"], row["to"], row["address"], row["expect"], row["observed"])
        for row in rows
        if not row["as_expected"]
    ]
    return {"verdicts": rows, "unexpected": unexpected, "links": links, "text": "\n".join(text)}


class FilterModule:
    def filters(self):
        return {"demo_report": demo_report}
