#!/usr/bin/python3
"""A WS-Management test server that plays a Hyper-V host for snapgov's tests.

Written from the specifications, not from snapgov's client, so that it can catch the
client's mistakes:

- DMTF DSP0226 (WS-Management 1.x): SOAP 1.2 envelopes, wsman:ResourceURI and
  wsman:SelectorSet addressing, WS-Transfer Get, WS-Enumeration Enumerate/Pull/Release with
  wsman:OptimizeEnumeration, wsman:MaxElements, wsman:Filter and wsman:EndOfSequence,
  custom actions (method Invoke: action = resource URI + "/" + method, body
  <p:METHOD_INPUT>, reply <p:METHOD_OUTPUT>), faults with WS-Man / WS-Addressing /
  WS-Enumeration subcodes.
- Microsoft's WMI-over-WinRM conventions (MS-WSMV): resource URIs
  http://schemas.microsoft.com/wbem/wsman/1/wmi/<namespace>/<class>, the "*" resource
  URI with a WQL filter (dialect http://schemas.microsoft.com/wbem/wsman/1/WQL),
  instances as <p:Class xsi:type="p:Class_Type"> with one child per property (arrays as
  repeated elements, nulls as xsi:nil="true", datetimes as <cim:Datetime>), EPRs for REF
  values, f:WSManFault details carrying the WMI error, HTTP 401 with WWW-Authenticate.
- Microsoft's Hyper-V WMI v2 classes: Msvm_ComputerSystem, Msvm_VirtualSystemSettingData,
  Msvm_VirtualSystemSnapshotService (DestroySnapshot, ClearSnapshotState),
  Msvm_VirtualSystemManagementService (ModifySystemSettings with an embedded CIM-XML
  INSTANCE), Msvm_ConcreteJob (ReturnValue 4096 + Job reference; JobState 4 running,
  7 completed, 10 exception).

The world (VMs, settings, checkpoints) is loaded from a JSON file; see tests/providers/hyperv/data/.
Bounded: the server exits when its stdin closes, on SIGTERM or SIGINT, and after
--max-lifetime seconds. It binds 127.0.0.1 only and prints the port on stdout (and to
--port-file if given).
"""

import argparse
import base64
import copy
import datetime
import json
import os
import re
import signal
import ssl
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape, quoteattr

import negotiate
import faults

NS_S = "http://www.w3.org/2003/05/soap-envelope"
NS_A = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_W = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
NS_N = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
NS_X = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
NS_CIM = "http://schemas.dmtf.org/wbem/wscim/1/common"
NS_F = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"

WMI_BASE = "http://schemas.microsoft.com/wbem/wsman/1/wmi/"
NAMESPACE = "root/virtualization/v2"
V2 = WMI_BASE + NAMESPACE + "/"
WQL_DIALECT = "http://schemas.microsoft.com/wbem/wsman/1/WQL"
ANONYMOUS = NS_A + "/role/anonymous"
MUTUAL_AUTH = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"

A_GET = NS_X + "/Get"
A_ENUMERATE = NS_N + "/Enumerate"
A_PULL = NS_N + "/Pull"
A_RELEASE = NS_N + "/Release"
A_WSMAN_FAULT = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
A_ADDR_FAULT = NS_A + "/fault"
A_ENUM_FAULT = NS_N + "/fault"
FAULT_DETAIL = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/"

SNAPSHOT_TYPE = "Microsoft:Hyper-V:Snapshot:Realized"
REALIZED_TYPE = "Microsoft:Hyper-V:System:Realized"

# Key properties of each class: Get and Invoke must address an instance by exactly these.
KEYS = {
    "Msvm_ComputerSystem": ["CreationClassName", "Name"],
    "Msvm_VirtualSystemSettingData": ["InstanceID"],
    "Msvm_VirtualSystemSnapshotService": ["CreationClassName", "Name",
                                          "SystemCreationClassName", "SystemName"],
    "Msvm_VirtualSystemManagementService": ["CreationClassName", "Name",
                                            "SystemCreationClassName", "SystemName"],
    "Msvm_ConcreteJob": ["InstanceID"],
}

# Method signatures: parameter name -> kind ("ref" = EPR of a class, "instance" = an
# embedded instance string of a class).
METHODS = {
    ("Msvm_VirtualSystemSnapshotService", "DestroySnapshot"):
        {"AffectedSnapshot": ("ref", "Msvm_VirtualSystemSettingData")},
    ("Msvm_VirtualSystemSnapshotService", "ClearSnapshotState"):
        {"SnapshotSettingData": ("ref", "Msvm_VirtualSystemSettingData")},
    ("Msvm_VirtualSystemManagementService", "ModifySystemSettings"):
        {"SystemSettings": ("instance", "Msvm_VirtualSystemSettingData")},
}

# Properties of Msvm_VirtualSystemSettingData that ModifySystemSettings may change, with
# their CIM types; any other non-key property in the embedded instance is refused.
MODIFIABLE = {
    "UserSnapshotType": "uint16",
    "AutomaticSnapshotsEnabled": "boolean",
    "Notes": "string",
    "ElementName": "string",
}

# WMI HRESULTs carried in fault details.
WBEM_E_NOT_FOUND = 0x80041002
WBEM_E_INVALID_NAMESPACE = 0x8004100E
WBEM_E_INVALID_CLASS = 0x80041010
WBEM_E_INVALID_QUERY = 0x80041017
WBEM_E_INVALID_PARAMETER = 0x80041008


class Datetime(str):
    """A CIM datetime value, serialized as <cim:Datetime> (xs:dateTime)."""


class Fault(Exception):
    """A SOAP fault to return: code (Sender/Receiver), qualified subcode, reason."""

    def __init__(self, action, subcode, reason, detail=None, wmi_code=None, code="s:Sender"):
        super().__init__(reason)
        self.action = action
        self.subcode = subcode
        self.reason = reason
        self.detail = detail
        self.wmi_code = wmi_code
        self.code = code


def wsman_fault(subcode, reason, detail=None, wmi_code=None):
    return Fault(A_WSMAN_FAULT, subcode, reason, detail, wmi_code)


def unreachable(reason, wmi_code):
    return Fault(A_ADDR_FAULT, "a:DestinationUnreachable", reason, "InvalidResourceURI",
                 wmi_code)


# --------------------------------------------------------------------------- the world


def wmi_path(host, cls, instance_id):
    # The form WMI gives REF-valued string properties such as Parent.
    return '\\\\%s\\%s:%s.InstanceID="%s"' % (host, NAMESPACE.replace("/", "\\"), cls,
                                             instance_id)


class World:
    """The host's objects, keyed by class; every instance of a class has the same
    properties (None = null)."""

    def __init__(self, spec):
        self.lock = threading.Lock()
        self.host = spec.get("host", "HV01")
        self.job_polls = int(spec.get("job_polls", 2))
        self.fail_jobs = dict(spec.get("fail_jobs", {}))
        self.method_return = dict(spec.get("method_return", {}))
        self.classes = {cls: [] for cls in KEYS}
        self.job_progress = {}
        cs = self.classes["Msvm_ComputerSystem"]
        cs.append(self.computer_system(self.host, self.host, "Hosting Computer System",
                                       "Microsoft Hosting Computer System", 2))
        vms = list(spec.get("vms", []))
        gen = spec.get("generate")
        if gen:
            for i in range(int(gen["vms"])):
                vms.append({
                    "id": "%08X-0000-4000-8000-%012X" % (0x5EED0000, i),
                    "name": "%s%03d" % (gen.get("prefix", "vm-"), i),
                    "notes": ["snapgov:index=%d" % i],
                    "checkpoints": [{
                        "id": "%08X-0000-4000-8000-%012X" % (0xC0FFEE00, i),
                        "name": "cp-%03d" % i,
                        "created": "2024-01-01T00:00:00.000000+00:00",
                    }] if i % 10 == 0 else [],
                })
        for vm in vms:
            self.add_vm(vm)
        for svc, name in (("Msvm_VirtualSystemSnapshotService", "vssnapsvc"),
                          ("Msvm_VirtualSystemManagementService", "vmms")):
            self.classes[svc].append({
                "Caption": None, "CreationClassName": svc, "ElementName": name,
                "EnabledState": 2, "Name": name, "SystemCreationClassName":
                "Msvm_ComputerSystem", "SystemName": self.host, "Started": True,
            })

    @staticmethod
    def computer_system(name, element, caption, description, state):
        return {
            "Caption": caption, "CreationClassName": "Msvm_ComputerSystem",
            "Description": description, "ElementName": element, "EnabledState": state,
            "HealthState": 5, "InstallDate": None, "Name": name,
            "OperationalStatus": [2], "TimeOfLastStateChange":
            Datetime("2024-01-01T00:00:00.000000+00:00"),
        }

    def add_vm(self, vm):
        vid = vm["id"]
        self.classes["Msvm_ComputerSystem"].append(self.computer_system(
            vid, vm["name"], "Virtual Machine", "Microsoft Virtual Machine",
            int(vm.get("enabled_state", 2))))
        roots = vm.get("data_root", "C:\\ProgramData\\Microsoft\\Windows\\Hyper-V")
        snap_root = vm.get("snapshot_data_root", roots)
        current = None
        for cp in vm.get("checkpoints", []):
            parent = cp.get("parent")
            self.classes["Msvm_VirtualSystemSettingData"].append(self.settings(
                "Microsoft:" + cp["id"], cp["id"], vid, SNAPSHOT_TYPE, cp["name"],
                cp.get("notes", []), Datetime(cp["created"]),
                wmi_path(self.host, "Msvm_VirtualSystemSettingData", "Microsoft:" + parent)
                if parent else None, roots, snap_root, vm, bool(cp.get("is_saved", False))))
            if cp.get("current"):
                current = cp["id"]
        self.classes["Msvm_VirtualSystemSettingData"].append(self.settings(
            "Microsoft:" + vid, vid, vid, REALIZED_TYPE, vm["name"], vm.get("notes", []),
            Datetime(vm.get("created", "2023-06-01T12:00:00.000000+00:00")),
            wmi_path(self.host, "Msvm_VirtualSystemSettingData", "Microsoft:" + current)
            if current else None, roots, snap_root, vm, False))

    @staticmethod
    def settings(instance_id, config_id, vid, vtype, name, notes, created, parent, roots,
                 snap_root, vm, is_saved):
        return {
            "AutomaticSnapshotsEnabled": bool(vm.get("automatic_snapshots", True)),
            "Caption": "Virtual Machine Settings" if vtype == REALIZED_TYPE else "Snapshot",
            "ConfigurationDataRoot": roots,
            "ConfigurationFile": roots + "\\Virtual Machines\\" + config_id + ".vmcx",
            "ConfigurationID": config_id,
            "CreationTime": created,
            "ElementName": name,
            "InstanceID": instance_id,
            "IsSaved": is_saved,
            "Notes": list(notes),
            "Parent": parent,
            "SnapshotDataRoot": snap_root,
            "SuspendDataRoot": roots,
            "SwapFileDataRoot": roots,
            "UserSnapshotType": int(vm.get("user_snapshot_type", 5)),
            "VirtualSystemIdentifier": vid,
            "VirtualSystemType": vtype,
        }

    def find(self, cls, selectors):
        """The instance of `cls` whose keys equal `selectors` (case-insensitive values,
        as WMI compares them); raises the DSP0226 faults."""
        keys = KEYS[cls]
        given = {k: v for k, v in selectors.items() if k != "__cimnamespace"}
        lower = {k.lower(): k for k in keys}
        unknown = [k for k in given if k.lower() not in lower]
        if unknown:
            raise wsman_fault("w:InvalidSelectors",
                              "The WS-Management service cannot process the request because "
                              "the request contained invalid selectors for the resource: " +
                              ", ".join(unknown), "UnexpectedSelectors")
        missing = [k for k in keys if k.lower() not in {g.lower() for g in given}]
        if missing:
            raise wsman_fault("w:InvalidSelectors",
                              "The WS-Management service cannot process the request because "
                              "selectors are missing: " + ", ".join(missing),
                              "InsufficientSelectors")
        norm = {lower[k.lower()]: v for k, v in given.items()}
        for inst in self.classes[cls]:
            if all(str(inst[k]).lower() == norm[k].lower() for k in keys):
                return inst
        raise unreachable("The WS-Management service cannot process the request because "
                          "the instance of %s does not exist." % cls, WBEM_E_NOT_FOUND)

    def snapshot_by_id(self, instance_id):
        for inst in self.classes["Msvm_VirtualSystemSettingData"]:
            if inst["InstanceID"].lower() == instance_id.lower():
                return inst
        return None

    # A job's effect happens when it completes, so a client that does not wait for the
    # job sees no change.
    def start_job(self, name, target_id, effect):
        job_id = str(uuid.uuid4()).upper()
        job = {
            "Caption": name, "Description": name, "ElapsedTime": None,
            "ElementName": name, "ErrorCode": 0, "ErrorDescription": None,
            "InstanceID": job_id, "JobState": 4, "JobStatus": "Job is running",
            "JobType": 0, "PercentComplete": 0, "StartTime": Datetime(now_cim()),
        }
        self.classes["Msvm_ConcreteJob"].append(job)
        self.job_progress[job_id] = [0, target_id, effect]
        return job_id

    def advance_job(self, job):
        state = self.job_progress.get(job["InstanceID"])
        if state is None or job["JobState"] != 4:
            return
        state[0] += 1
        if state[0] < self.job_polls:
            job["PercentComplete"] = min(99, 100 * state[0] // max(1, self.job_polls))
            return
        failure = self.fail_jobs.get(state[1])
        if failure:
            job.update(JobState=10, ErrorCode=32768, ErrorDescription=failure,
                       JobStatus="Exception")
        else:
            state[2]()
            job.update(JobState=7, PercentComplete=100, JobStatus="Job completed")


def now_cim():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


# --------------------------------------------------------------------------- WQL


WQL_RE = re.compile(r"^\s*SELECT\s+\*\s+FROM\s+([A-Za-z_][A-Za-z0-9_]*)\s*(?:WHERE\s+(.+?))?\s*$",
                    re.IGNORECASE | re.DOTALL)
COND_RE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=|<>|!=)\s*"
                     r"('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|-?\d+|TRUE\b|FALSE\b)\s*",
                     re.IGNORECASE)
AND_RE = re.compile(r"AND\b", re.IGNORECASE)


def parse_wql(text):
    """-> (class, [(property, op, value)]) for SELECT * FROM c [WHERE p op v AND ...]."""
    m = WQL_RE.match(text)
    if not m:
        raise bad_filter("The WQL query is invalid: " + text)
    cls, where = m.group(1), m.group(2)
    conds = []
    pos = 0
    while where is not None:
        c = COND_RE.match(where, pos)
        if not c:
            raise bad_filter("The WQL query is invalid near: " + where[pos:])
        raw = c.group(3)
        if raw[0] in "'\"":
            value = re.sub(r"\\(.)", r"\1", raw[1:-1])
        elif raw.upper() in ("TRUE", "FALSE"):
            value = raw.upper() == "TRUE"
        else:
            value = int(raw)
        conds.append((c.group(1), c.group(2), value))
        pos = c.end()
        if pos == len(where):
            break
        a = AND_RE.match(where, pos)
        if not a:
            raise bad_filter("The WQL query is invalid near: " + where[pos:])
        pos = a.end()
    return cls, conds


def bad_filter(reason):
    return Fault(A_ENUM_FAULT, "n:CannotProcessFilter", reason, None, WBEM_E_INVALID_QUERY)


def matches(inst, conds):
    names = {k.lower(): k for k in inst}
    for prop, op, value in conds:
        key = names.get(prop.lower())
        if key is None:
            raise bad_filter("The WQL query names an unknown property: " + prop)
        actual = inst[key]
        if isinstance(value, bool) or isinstance(value, int):
            equal = actual == value
        else:
            equal = actual is not None and str(actual).lower() == value.lower()
        if equal != (op == "="):
            return False
    return True


# --------------------------------------------------------------------------- XML out


def value_xml(name, value):
    if value is None:
        return '<p:%s xsi:nil="true"/>' % name
    if isinstance(value, Datetime):
        return "<p:%s><cim:Datetime>%s</cim:Datetime></p:%s>" % (name, escape(value), name)
    if isinstance(value, bool):
        return "<p:%s>%s</p:%s>" % (name, "true" if value else "false", name)
    return "<p:%s>%s</p:%s>" % (name, escape(str(value)), name)


def instance_xml(cls, inst):
    out = ['<p:%s xmlns:p="%s" xsi:type="p:%s_Type">' % (cls, V2 + cls, cls)]
    for name in sorted(inst):
        value = inst[name]
        if isinstance(value, list):
            if not value:
                out.append(value_xml(name, None))
            for v in value:
                out.append(value_xml(name, v))
        else:
            out.append(value_xml(name, value))
    out.append("</p:%s>" % cls)
    return "".join(out)


def epr_xml(cls, selectors):
    sel = "".join('<w:Selector Name=%s>%s</w:Selector>' % (quoteattr(k), escape(v))
                  for k, v in selectors)
    return ("<a:Address>%s</a:Address><a:ReferenceParameters><w:ResourceURI>%s</w:ResourceURI>"
            "<w:SelectorSet>%s<w:Selector Name=\"__cimnamespace\">%s</w:Selector>"
            "</w:SelectorSet></a:ReferenceParameters>" % (ANONYMOUS, V2 + cls, sel, NAMESPACE))


def envelope(action, relates_to, body):
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            '<s:Envelope xmlns:s="%s" xmlns:a="%s" xmlns:w="%s" xmlns:n="%s" xmlns:x="%s" '
            'xmlns:xsi="%s" xmlns:cim="%s" xmlns:f="%s" xml:lang="en-US"><s:Header>'
            '<a:Action>%s</a:Action><a:MessageID>uuid:%s</a:MessageID><a:To>%s</a:To>'
            '%s</s:Header><s:Body>%s</s:Body></s:Envelope>'
            % (NS_S, NS_A, NS_W, NS_N, NS_X, NS_XSI, NS_CIM, NS_F, escape(action),
               str(uuid.uuid4()).upper(), ANONYMOUS,
               "<a:RelatesTo>%s</a:RelatesTo>" % escape(relates_to) if relates_to else "",
               body))


def fault_xml(fault, relates_to, host):
    detail = ""
    if fault.detail:
        detail += "<w:FaultDetail>%s%s</w:FaultDetail>" % (FAULT_DETAIL, fault.detail)
    if fault.wmi_code is not None:
        # MS-WSMV: the WMI plug-in reports the provider's error inside f:WSManFault.
        detail += ('<f:WSManFault Code="2150858752" Machine=%s><f:Message>'
                   '<f:ProviderFault provider="WMI Provider" path="%%systemroot%%\\system32\\'
                   'WsmWmiPl.dll"><f:WSManFault Code="%d" Machine=%s><f:Message>%s </f:Message>'
                   '</f:WSManFault></f:ProviderFault></f:Message></f:WSManFault>'
                   % (quoteattr(host), fault.wmi_code, quoteattr(host), escape(fault.reason)))
    body = ('<s:Fault><s:Code><s:Value>%s</s:Value><s:Subcode><s:Value>%s</s:Value>'
            '</s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">%s</s:Text></s:Reason>'
            '%s</s:Fault>' % (fault.code, fault.subcode, escape(fault.reason),
                              "<s:Detail>%s</s:Detail>" % detail if detail else ""))
    return envelope(fault.action, relates_to, body)


# --------------------------------------------------------------------------- requests


def child(elem, ns, name):
    return elem.find("{%s}%s" % (ns, name)) if elem is not None else None


def text_of(elem, ns, name):
    c = child(elem, ns, name)
    return c.text.strip() if c is not None and c.text is not None else None


def resource_class(uri, wildcard_ok):
    """The class named by a resource URI in root/virtualization/v2, or '*'."""
    if uri is None:
        raise Fault(A_ADDR_FAULT, "a:MessageInformationHeaderRequired",
                    "The wsman:ResourceURI header is missing.")
    if not uri.startswith(WMI_BASE):
        raise unreachable("The WS-Management service cannot process the request because "
                          "the resource URI is not supported: " + uri, WBEM_E_INVALID_CLASS)
    rest = uri[len(WMI_BASE):]
    ns, _, cls = rest.rpartition("/")
    if ns.lower() != NAMESPACE:
        raise unreachable("The WMI namespace %s does not exist." % ns, WBEM_E_INVALID_NAMESPACE)
    if cls == "*":
        if not wildcard_ok:
            raise unreachable("The resource URI * is valid only for Enumerate.",
                              WBEM_E_INVALID_CLASS)
        return "*"
    for known in KEYS:
        if known.lower() == cls.lower():
            return known
    raise unreachable("The WMI class %s does not exist in %s." % (cls, NAMESPACE),
                      WBEM_E_INVALID_CLASS)


def selectors_of(header):
    out = {}
    ss = child(header, NS_W, "SelectorSet")
    if ss is None:
        return out
    for sel in ss.findall("{%s}Selector" % NS_W):
        name = sel.get("Name")
        if not name:
            raise wsman_fault("w:InvalidSelectors", "A selector has no Name.", "InvalidValue")
        out[name] = (sel.text or "").strip()
    if out.get("__cimnamespace", NAMESPACE).lower() != NAMESPACE:
        raise unreachable("The WMI namespace %s does not exist." % out["__cimnamespace"],
                          WBEM_E_INVALID_NAMESPACE)
    return out


def epr_from(elem):
    """(class, selectors) from a parameter holding a WS-Addressing EPR."""
    params = child(elem, NS_A, "ReferenceParameters")
    if child(elem, NS_A, "Address") is None or params is None:
        raise wsman_fault("w:InvalidParameter", "An EPR needs a:Address and "
                          "a:ReferenceParameters.", "InvalidValue", WBEM_E_INVALID_PARAMETER)
    cls = resource_class(text_of(params, NS_W, "ResourceURI"), False)
    return cls, selectors_of(params)


def parse_cim_instance(text):
    """A CIM-XML (DSP0201) INSTANCE -> (classname, {name: (type, value or list or None)})."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise wsman_fault("w:InvalidParameter", "The embedded instance is not valid XML: %s" % e,
                          "InvalidValue", WBEM_E_INVALID_PARAMETER)
    if root.tag != "INSTANCE" or not root.get("CLASSNAME"):
        raise wsman_fault("w:InvalidParameter",
                          "The embedded instance must be a CIM-XML INSTANCE with CLASSNAME.",
                          "InvalidValue", WBEM_E_INVALID_PARAMETER)
    props = {}
    for p in root:
        name, ctype = p.get("NAME"), p.get("TYPE")
        if p.tag == "PROPERTY":
            v = p.find("VALUE")
            props[name] = (ctype, None if v is None else (v.text or ""), False)
        elif p.tag == "PROPERTY.ARRAY":
            va = p.find("VALUE.ARRAY")
            props[name] = (ctype, None if va is None else
                           [(v.text or "") for v in va.findall("VALUE")], True)
        elif p.tag != "QUALIFIER":
            raise wsman_fault("w:InvalidParameter", "Unexpected element %s in INSTANCE." % p.tag,
                              "InvalidValue", WBEM_E_INVALID_PARAMETER)
    return root.get("CLASSNAME"), props


class Server:
    def __init__(self, args, world):
        self.args = args
        self.world = world
        self.contexts = {}
        self.requests = 0
        self.log_lock = threading.Lock()

    def log(self, line):
        if self.args.log:
            with self.log_lock, open(self.args.log, "a", encoding="utf-8") as f:
                f.write(line + "\n")

    def handle(self, body):
        """-> (http status, response envelope, the request's MaxEnvelopeSize or None)."""
        try:
            root = ET.fromstring(body)
        except ET.ParseError as e:
            return 400, fault_xml(wsman_fault("w:SchemaValidationError",
                                              "The SOAP XML is not well-formed: %s" % e), None,
                                  self.world.host), None
        relates = None
        limit = None
        try:
            if root.tag != "{%s}Envelope" % NS_S:
                raise Fault(A_WSMAN_FAULT, "s:VersionMismatch",
                            "The envelope is not a SOAP 1.2 envelope.", code="s:VersionMismatch")
            header = child(root, NS_S, "Header")
            sbody = child(root, NS_S, "Body")
            relates = text_of(header, NS_A, "MessageID")
            action = text_of(header, NS_A, "Action")
            reply_to = child(header, NS_A, "ReplyTo")
            for name, value in (("a:Action", action), ("a:MessageID", relates),
                                ("a:To", text_of(header, NS_A, "To"))):
                if not value:
                    raise Fault(A_ADDR_FAULT, "a:MessageInformationHeaderRequired",
                                "The %s header is missing." % name)
            if text_of(reply_to, NS_A, "Address") != ANONYMOUS:
                raise Fault(A_ADDR_FAULT, "a:InvalidMessageInformationHeader",
                            "a:ReplyTo must be the anonymous address.")
            if sbody is None:
                raise wsman_fault("w:SchemaValidationError", "The s:Body element is missing.")
            size = text_of(header, NS_W, "MaxEnvelopeSize")
            if size is not None:
                if not size.isdigit() or int(size) < 8192:
                    raise wsman_fault("w:EncodingLimit",
                                      "MaxEnvelopeSize must be a number of at least 8192.",
                                      "MinimumEnvelopeLimit")
                limit = int(size)
            uri = text_of(header, NS_W, "ResourceURI")
            self.log("%s %s" % (action.rsplit("/", 1)[-1], uri))
            with self.world.lock:
                if action == A_ENUMERATE:
                    out = self.enumerate(header, sbody, uri, relates)
                elif action == A_PULL:
                    out = self.pull(sbody, uri, relates)
                elif action == A_RELEASE:
                    out = self.release(sbody, uri, relates)
                elif action == A_GET:
                    out = self.get(header, uri, relates)
                elif uri and action.startswith(uri + "/"):
                    out = self.invoke(header, sbody, uri, action[len(uri) + 1:], relates)
                else:
                    raise Fault(A_ADDR_FAULT, "a:ActionNotSupported",
                                "The action is not supported by the service: " + action)
                return 200, out, limit
        except Fault as f:
            self.log("FAULT %s" % f.subcode)
            return 500, fault_xml(f, relates, self.world.host), None

    # ---- WS-Enumeration

    def enumerate(self, header, sbody, uri, relates):
        enum = child(sbody, NS_N, "Enumerate")
        if enum is None:
            raise wsman_fault("w:SchemaValidationError", "The body must hold n:Enumerate.")
        cls = resource_class(uri, True)
        selectors_of(header)
        flt = child(enum, NS_W, "Filter")
        if flt is not None:
            if flt.get("Dialect") != WQL_DIALECT:
                raise Fault(A_ENUM_FAULT, "n:FilterDialectRequestedUnavailable",
                            "The filter dialect is not supported: %s" % flt.get("Dialect"))
            qcls, conds = parse_wql((flt.text or "").strip())
            known = [k for k in KEYS if k.lower() == qcls.lower()]
            if not known:
                raise unreachable("The WMI class %s does not exist in %s." % (qcls, NAMESPACE),
                                  WBEM_E_INVALID_CLASS)
            if cls != "*" and cls != known[0]:
                raise bad_filter("The query class does not match the resource URI.")
            cls = known[0]
        elif cls == "*":
            raise bad_filter("The * resource URI needs a WQL filter.")
        else:
            conds = []
        items = [instance_xml(cls, inst) for inst in self.world.classes[cls]
                 if matches(inst, conds)]
        ctx = "uuid:" + str(uuid.uuid4()).upper()
        out = ["<n:EnumerateResponse>"]
        if child(enum, NS_W, "OptimizeEnumeration") is not None:
            count = self.page(child(enum, NS_W, "MaxElements"))
            first, items = items[:count], items[count:]
            out.append("<n:EnumerationContext>%s</n:EnumerationContext>" % ctx)
            out.append("<w:Items>%s</w:Items>" % "".join(first))
            if not items:
                out.append("<w:EndOfSequence/>")
        else:
            out.append("<n:EnumerationContext>%s</n:EnumerationContext>" % ctx)
        out.append("</n:EnumerateResponse>")
        if items and not self.args.drop_contexts:
            self.contexts[ctx] = {"items": items, "uri": uri, "expires": time.time() + 120}
        return envelope(NS_N + "/EnumerateResponse", relates, "".join(out))

    def page(self, max_elements):
        # DSP0226: MaxElements defaults to 1; the service may return fewer.
        wanted = 1
        if max_elements is not None:
            try:
                wanted = int(max_elements.text)
            except (TypeError, ValueError):
                raise wsman_fault("w:InvalidParameter", "MaxElements must be a positive integer.")
            if wanted < 1:
                raise wsman_fault("w:InvalidParameter", "MaxElements must be a positive integer.")
        return min(wanted, self.args.page_size)

    def context(self, sbody, element):
        req = child(sbody, NS_N, element)
        ctx = text_of(req, NS_N, "EnumerationContext")
        state = self.contexts.get(ctx or "")
        if state is None or state["expires"] < time.time():
            self.contexts.pop(ctx or "", None)
            raise Fault(A_ENUM_FAULT, "n:InvalidEnumerationContext",
                        "The enumeration context supplied in the message is not valid.")
        return req, ctx, state

    def pull(self, sbody, uri, relates):
        req, ctx, state = self.context(sbody, "Pull")
        if uri != state["uri"]:
            raise Fault(A_ENUM_FAULT, "n:InvalidEnumerationContext",
                        "The enumeration context belongs to another resource URI.")
        count = self.page(child(req, NS_N, "MaxElements"))
        batch, state["items"] = state["items"][:count], state["items"][count:]
        out = ["<n:PullResponse>"]
        if state["items"]:
            out.append("<n:EnumerationContext>%s</n:EnumerationContext>" % ctx)
        else:
            del self.contexts[ctx]
        out.append("<n:Items>%s</n:Items>" % "".join(batch))
        if not state["items"]:
            out.append("<n:EndOfSequence/>")
        out.append("</n:PullResponse>")
        return envelope(NS_N + "/PullResponse", relates, "".join(out))

    def release(self, sbody, uri, relates):
        _, ctx, _ = self.context(sbody, "Release")
        del self.contexts[ctx]
        return envelope(NS_N + "/ReleaseResponse", relates, "")

    # ---- WS-Transfer

    def get(self, header, uri, relates):
        cls = resource_class(uri, False)
        inst = self.world.find(cls, selectors_of(header))
        if cls == "Msvm_ConcreteJob":
            self.world.advance_job(inst)
        return envelope(NS_X + "/GetResponse", relates, instance_xml(cls, inst))

    # ---- methods

    def invoke(self, header, sbody, uri, method, relates):
        cls = resource_class(uri, False)
        signature = METHODS.get((cls, method))
        if signature is None:
            raise Fault(A_ADDR_FAULT, "a:ActionNotSupported",
                        "The method %s of %s is not supported." % (method, cls))
        self.world.find(cls, selectors_of(header))
        inp = child(sbody, V2 + cls, method + "_INPUT")
        if inp is None:
            raise wsman_fault("w:InvalidParameter",
                              "The body must hold p:%s_INPUT in namespace %s." % (method, uri),
                              "InvalidValue", WBEM_E_INVALID_PARAMETER)
        args = {}
        for p in inp:
            ns, _, name = p.tag[1:].partition("}")
            if ns != V2 + cls or name not in signature:
                raise wsman_fault("w:InvalidParameter",
                                  "Unknown parameter %s for method %s." % (name, method),
                                  "InvalidName", WBEM_E_INVALID_PARAMETER)
            args[name] = p
        for name, (kind, pcls) in signature.items():
            if name not in args:
                raise wsman_fault("w:InvalidParameter",
                                  "The parameter %s of %s is missing." % (name, method),
                                  "MissingValues", WBEM_E_INVALID_PARAMETER)
        ret = self.world.method_return.get(method)
        target_id, effect = getattr(self, "m_" + method)(args)
        if ret is not None:
            out = "<p:ReturnValue>%d</p:ReturnValue>" % int(ret)
        else:
            job_id = self.world.start_job(method, target_id, effect)
            out = ("<p:Job>%s</p:Job><p:ReturnValue>4096</p:ReturnValue>"
                   % epr_xml("Msvm_ConcreteJob", [("InstanceID", job_id)]))
        body = '<p:%s_OUTPUT xmlns:p="%s">%s</p:%s_OUTPUT>' % (method, V2 + cls, out, method)
        return envelope(uri + "/" + method + "Response", relates, body)

    def snapshot_arg(self, elem, name):
        try:
            cls, sel = epr_from(elem)
        except Fault:
            raise wsman_fault("w:InvalidParameter",
                              "The parameter %s must be an EPR of a snapshot." % name,
                              "InvalidValue", WBEM_E_INVALID_PARAMETER)
        if cls != "Msvm_VirtualSystemSettingData":
            raise wsman_fault("w:InvalidParameter",
                              "The parameter %s must reference Msvm_VirtualSystemSettingData."
                              % name, "InvalidValue", WBEM_E_INVALID_PARAMETER)
        try:
            snap = self.world.find(cls, sel)
        except Fault:
            raise wsman_fault("w:InvalidParameter",
                              "The snapshot referenced by %s does not exist." % name,
                              "InvalidValue", WBEM_E_NOT_FOUND)
        if snap["VirtualSystemType"] != SNAPSHOT_TYPE:
            raise wsman_fault("w:InvalidParameter",
                              "The settings referenced by %s are not a snapshot." % name,
                              "InvalidValue", WBEM_E_INVALID_PARAMETER)
        return snap

    def m_DestroySnapshot(self, args):
        snap = self.snapshot_arg(args["AffectedSnapshot"], "AffectedSnapshot")

        def effect():
            vssd = self.world.classes["Msvm_VirtualSystemSettingData"]
            if snap not in vssd:
                return
            path = wmi_path(self.world.host, "Msvm_VirtualSystemSettingData",
                            snap["InstanceID"])
            # Children (and the VM, if this was its current checkpoint) move to the parent.
            for other in vssd:
                if other["Parent"] == path:
                    other["Parent"] = snap["Parent"]
            vssd.remove(snap)
        return snap["InstanceID"], effect

    def m_ClearSnapshotState(self, args):
        snap = self.snapshot_arg(args["SnapshotSettingData"], "SnapshotSettingData")

        def effect():
            snap["IsSaved"] = False
        return snap["InstanceID"], effect

    def m_ModifySystemSettings(self, args):
        cls, props = parse_cim_instance("".join(args["SystemSettings"].itertext()))
        if cls != "Msvm_VirtualSystemSettingData":
            raise wsman_fault("w:InvalidParameter",
                              "SystemSettings must be an Msvm_VirtualSystemSettingData instance.",
                              "InvalidValue", WBEM_E_INVALID_PARAMETER)
        iid = props.get("InstanceID")
        if iid is None or iid[1] is None:
            raise wsman_fault("w:InvalidParameter", "SystemSettings has no InstanceID.",
                              "MissingValues", WBEM_E_INVALID_PARAMETER)
        target = self.world.snapshot_by_id(iid[1])
        if target is None or target["VirtualSystemType"] != REALIZED_TYPE:
            raise wsman_fault("w:InvalidParameter",
                              "SystemSettings does not name a virtual machine's settings.",
                              "InvalidValue", WBEM_E_NOT_FOUND)
        changes = {}
        for name, (ctype, value, is_array) in props.items():
            if name == "InstanceID":
                continue
            if name not in MODIFIABLE:
                raise wsman_fault("w:InvalidParameter",
                                  "The property %s cannot be modified." % name,
                                  "InvalidValue", WBEM_E_INVALID_PARAMETER)
            if ctype != MODIFIABLE[name]:
                raise wsman_fault("w:InvalidParameter",
                                  "The property %s must have TYPE %s." % (name, MODIFIABLE[name]),
                                  "InvalidValue", WBEM_E_INVALID_PARAMETER)
            changes[name] = self.convert(name, ctype, value, is_array)

        def effect():
            target.update(changes)
        return target["InstanceID"], effect

    @staticmethod
    def convert(name, ctype, value, is_array):
        if is_array != (name == "Notes"):
            raise wsman_fault("w:InvalidParameter", "The property %s has the wrong shape." % name,
                              "InvalidValue", WBEM_E_INVALID_PARAMETER)
        if value is None:
            return [] if is_array else None
        if ctype == "boolean":
            if value not in ("true", "false", "TRUE", "FALSE"):
                raise wsman_fault("w:InvalidParameter", "%s must be a boolean." % name,
                                  "InvalidValue", WBEM_E_INVALID_PARAMETER)
            return value.lower() == "true"
        if ctype == "uint16":
            if not value.isdigit() or int(value) not in (2, 3, 4, 5):
                raise wsman_fault("w:InvalidParameter", "%s has an invalid value." % name,
                                  "InvalidValue", WBEM_E_INVALID_PARAMETER)
            return int(value)
        return value


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-HTTPAPI/2.0"
    sys_version = ""

    def setup(self):
        super().setup()
        self.server.app.log("CONNECT %d" % self.client_address[1])

    def log_message(self, fmt, *args):  # quiet: the tests read stderr only on failure
        pass

    def reply(self, status, body, extra=()):
        data = body.encode("utf-8")
        self.send_response(status)
        for k, v in extra:
            self.send_header(k, v)
        if data:
            self.send_header("Content-Type", "application/soap+xml;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorized(self):
        srv = self.server.app
        auth = self.headers.get("Authorization", "")
        if srv.negotiate is not None:
            return srv.negotiate.authorize(self)
        if srv.args.client_ca:
            # Certificate authentication: the TLS layer verified the certificate; WinRM
            # also wants the mutual-auth profile named in the Authorization header.
            return auth == MUTUAL_AUTH and self.connection.getpeercert() is not None
        if not auth.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(auth[6:], validate=True).decode().partition(":")
        except Exception:
            return False
        return user == srv.args.user and password == srv.args.password

    def do_POST(self):
        srv = self.server.app
        length = self.headers.get("Content-Length")
        if length is None:
            self.reply(411, "")
            return
        body = self.rfile.read(int(length))
        srv.requests += 1
        if srv.args.delay > 0 and srv.requests > srv.args.delay_after:
            time.sleep(srv.args.delay)
        if self.path != "/wsman":
            self.reply(404, "")
            return
        if srv.faults.inject(self, body):
            return
        if not self.authorized():
            srv.log("401")
            self.reply(401, "", getattr(self, "auth_headers", None) or
                       [("WWW-Authenticate", 'Basic realm="WSMAN"'),
                        ("WWW-Authenticate", "Negotiate")])
            return
        ctype = self.headers.get("Content-Type", "")
        if not ctype.lower().startswith("application/soap+xml"):
            self.reply(415, "")
            return
        status, out, limit = srv.handle(body)
        if limit is not None and len(out.encode()) > limit:
            # DSP0226: a reply that would exceed the requested wsman:MaxEnvelopeSize is an
            # EncodingLimit fault instead.
            status, out = 500, fault_xml(wsman_fault("w:EncodingLimit",
                                                     "The response that the WS-Management "
                                                     "service computed exceeds the maximum "
                                                     "envelope size in the request.",
                                                     "MaxEnvelopeSize"), None, srv.world.host)
        self.reply(status, out, getattr(self, "auth_headers", ()))
        if srv.args.drop_idle:
            # Close without saying so (the reply promised keep-alive), as a server does
            # when an idle connection times out: the client must reconnect.
            self.close_connection = True


class TlsServer(ThreadingHTTPServer):
    daemon_threads = True
    tls = None

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.tls is not None:
            # The handshake runs in the handler thread, so a stalled client blocks only
            # itself.
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        pass  # TLS handshake failures are expected in the certificate tests.


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", required=True, help="JSON fixture describing the host")
    ap.add_argument("--cert", help="server certificate (PEM); without it: plain HTTP")
    ap.add_argument("--key", help="server private key (PEM)")
    ap.add_argument("--client-ca", help="require client certificates signed by this CA")
    ap.add_argument("--user", default="svc-snapgov")
    ap.add_argument("--password-file", help="file holding the expected password")
    ap.add_argument("--port-file", help="write the bound port here")
    ap.add_argument("--page-size", type=int, default=100, help="most items per response")
    ap.add_argument("--delay", type=float, default=0.0, help="seconds to stall each request")
    ap.add_argument("--delay-after", type=int, default=0,
                    help="answer this many requests promptly before stalling")
    ap.add_argument("--drop-contexts", action="store_true",
                    help="forget enumeration contexts at once (every Pull faults)")
    ap.add_argument("--job-polls", type=int,
                    help="Gets of a job before it ends (overrides the world's job_polls)")
    ap.add_argument("--method-return", action="append", default=[], metavar="METHOD=CODE",
                    help="make METHOD return CODE at once instead of starting a job")
    ap.add_argument("--drop-idle", action="store_true",
                    help="close every connection after one reply, without Connection: close")
    ap.add_argument("--max-lifetime", type=float, default=300.0)
    ap.add_argument("--log", help="append one line per request (action, URI) to this file")
    negotiate.add_arguments(ap)
    faults.add_arguments(ap)
    args = ap.parse_args()
    args.password = None
    if args.password_file:
        with open(args.password_file, encoding="utf-8") as f:
            args.password = f.read().rstrip("\r\n")
    with open(args.world, encoding="utf-8") as f:
        world = World(json.load(f))
    if args.job_polls is not None:
        world.job_polls = args.job_polls
    for item in args.method_return:
        method, _, code = item.partition("=")
        world.method_return[method] = int(code)

    httpd = TlsServer(("127.0.0.1", 0), Handler)
    httpd.app = Server(args, world)
    httpd.app.negotiate = negotiate.Negotiate(args) if args.negotiate else None
    httpd.app.faults = faults.Faults(args.fault, args.fault_stall, httpd.app.log)
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        if args.client_ca:
            ctx.verify_mode = ssl.CERT_OPTIONAL
            ctx.load_verify_locations(args.client_ca)
        httpd.tls = ctx
    port = httpd.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    print(port, flush=True)

    def stop(*_):
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Timer(args.max_lifetime, stop).start()

    def watch_stdin():
        # The test process holds our stdin; when it dies, we go too.
        while sys.stdin.buffer.read(1024):
            pass
        stop()

    threading.Thread(target=watch_stdin, daemon=True).start()
    httpd.serve_forever()


if __name__ == "__main__":
    main()
