// ledger workspace: progressive enhancement only — every page works
// without this script. It (1) keeps pages live from the ledger's event feed,
// (2) checks events against the signed checkpoint in the browser, and
// (3) prints reports.
"use strict";

(function () {
  const zh = document.documentElement.lang.startsWith("zh");
  const say = (en, cn) => (zh ? cn : en);

  // (3) Print.
  for (const b of document.querySelectorAll("button.print")) {
    b.addEventListener("click", () => window.print());
  }

  // (1) Live: when an event of this page's scope is recorded, fetch the
  // page again and put its #live part in place, without a reload.
  const note = document.querySelector(".live-note[data-live]");
  if (note && window.EventSource) {
    let timer = null;
    const refresh = async () => {
      timer = null;
      try {
        const r = await fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } });
        if (!r.ok) return;
        const doc = new DOMParser().parseFromString(await r.text(), "text/html");
        const next = doc.getElementById("live");
        const here = document.getElementById("live");
        if (next && here) {
          here.innerHTML = next.innerHTML;
          here.dataset.refreshed = String(Number(here.dataset.refreshed || "0") + 1);
        }
      } catch (e) {
        // the next event tries again
      }
    };
    const changed = () => {
      if (!timer) timer = setTimeout(refresh, 200);
    };
    // The feed names each event by its type: listen to every type the
    // ledger has (its schemas list them).
    fetch("/v1/schemas", { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : { types: [] }))
      .then((s) => {
        const es = new EventSource("/v1/events/stream?" + new URLSearchParams(note.dataset.live).toString());
        for (const t of s.types || []) es.addEventListener(t.type, changed);
        es.onmessage = changed;
        es.onopen = () => { note.hidden = false; };
        es.onerror = () => { note.hidden = true; };
      })
      .catch(() => {});
  }

  // (2) Proofs: RFC 6962 Merkle trees as golang.org/x/mod/sumdb/tlog builds
  // them, checkpoints signed as golang.org/x/mod/sumdb/note signs them.
  const enc = new TextEncoder();
  const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const eq = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  const sha256 = async (...parts) => {
    const n = parts.reduce((s, p) => s + p.length, 0);
    const buf = new Uint8Array(n);
    let o = 0;
    for (const p of parts) { buf.set(p, o); o += p.length; }
    return new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
  };
  const leafHash = (data) => sha256(Uint8Array.of(0), data);
  const nodeHash = (l, r) => sha256(Uint8Array.of(1), l, r);
  const maxpow2 = (n) => { let k = 1; while (k * 2 < n) k *= 2; return k; };
  // runRecordProof recomputes the root of the tree [lo, hi) from leaf n's hash.
  async function runRecordProof(p, lo, hi, n, h) {
    if (lo + 1 === hi) {
      if (p.length !== 0) throw new Error("proof too long");
      return h;
    }
    if (p.length === 0) throw new Error("proof too short");
    const k = maxpow2(hi - lo);
    const last = p[p.length - 1], rest = p.slice(0, -1);
    if (n < lo + k) return nodeHash(await runRecordProof(rest, lo, lo + k, n, h), last);
    return nodeHash(last, await runRecordProof(rest, lo + k, hi, n, h));
  }

  let keyPromise = null;
  function publicKey() {
    if (!keyPromise) {
      keyPromise = (async () => {
        const r = await fetch("/v1/checkpoints/key", { credentials: "same-origin" });
        if (!r.ok) throw new Error("no public key");
        const text = (await r.text()).trim();
        // name+hash+key, the key in base64 (which may itself hold "+").
        const i = text.indexOf("+"), j = text.indexOf("+", i + 1);
        const name = text.slice(0, i), hash = text.slice(i + 1, j), key = text.slice(j + 1);
        const raw = b64(key);
        if (raw[0] !== 1 || raw.length !== 33) throw new Error("not an Ed25519 note key");
        const k = await crypto.subtle.importKey("raw", raw.slice(1), { name: "Ed25519" }, false, ["verify"]);
        return { text, name, hash: parseInt(hash, 16), key: k };
      })();
    }
    return keyPromise;
  }

  // openCheckpoint checks a signed note's signature by the public key and
  // returns its size and root.
  async function openCheckpoint(signed) {
    const k = await publicKey();
    const i = signed.indexOf("\n\n");
    if (i < 0) throw new Error("not a signed note");
    const text = signed.slice(0, i + 1);
    let ok = false;
    for (const line of signed.slice(i + 2).split("\n")) {
      const m = line.match(/^\u2014 (\S+) (\S+)$/);
      if (!m || m[1] !== k.name) continue;
      const sig = b64(m[2]);
      const id = ((sig[0] << 24) | (sig[1] << 16) | (sig[2] << 8) | sig[3]) >>> 0;
      if (id !== k.hash || sig.length !== 68) continue;
      ok = await crypto.subtle.verify({ name: "Ed25519" }, k.key, sig.slice(4), enc.encode(text));
      if (ok) break;
    }
    if (!ok) throw new Error(say("the checkpoint's signature is not the public key's", "检查点签名与公钥不符"));
    const lines = text.split("\n");
    return { size: Number(lines[1]), root: b64(lines[2]) };
  }

  async function verifySeq(seq) {
    const r = await fetch("/v1/events/" + seq + "/proof", { credentials: "same-origin" });
    if (!r.ok) {
      const p = await r.json().catch(() => ({}));
      throw new Error(p.detail || r.statusText);
    }
    const pr = await r.json();
    const cp = await openCheckpoint(pr.checkpoint.note);
    const leaf = await leafHash(enc.encode(pr.event));
    if (!eq(leaf, b64(pr.leaf_hash))) throw new Error(say("the event's bytes do not hash to its leaf", "事件内容与叶哈希不符"));
    const root = await runRecordProof((pr.proof || []).map(b64), 0, cp.size, seq - 1, leaf);
    if (!eq(root, cp.root)) throw new Error(say("the proof does not lead to the signed root", "证明未通向签名根哈希"));
    return cp.size;
  }

  document.addEventListener("click", async (ev) => {
    const b = ev.target.closest("button.proof");
    if (!b) return;
    const out = b.parentElement.querySelector("output.proof-result");
    out.textContent = "…";
    try {
      const size = await verifySeq(Number(b.dataset.seq));
      out.textContent = say("✔ in the signed checkpoint of " + size + " events", "✔ 已包含于签名检查点（" + size + " 条事件）");
      out.className = "proof-result verified";
    } catch (e) {
      out.textContent = "✘ " + e.message;
      out.className = "proof-result failed";
    }
  });

  // The audit page: every event of a project.
  const res = document.getElementById("verify-result");
  if (res && res.dataset.project) {
    (async () => {
      res.textContent = "…";
      try {
        const r = await fetch("/v1/projects/" + encodeURIComponent(res.dataset.project) + "/events", { credentials: "same-origin" });
        if (!r.ok) {
          const p = await r.json().catch(() => ({}));
          throw new Error(p.detail || r.statusText);
        }
        const h = await r.json();
        let size = 0;
        for (const e of h.events) size = await verifySeq(e.seq);
        res.textContent = say("✔ all " + h.events.length + " events of " + h.project + " are in the checkpoint of " + size + " events, signed by the public key above",
          "✔ " + h.project + " 的全部 " + h.events.length + " 条事件均包含于上列公钥签名的检查点（" + size + " 条事件）");
        res.className = "verified";
      } catch (e) {
        res.textContent = "✘ " + e.message;
        res.className = "failed";
      }
    })();
  }
})();
