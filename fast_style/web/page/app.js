"use strict";
// The page: pick a style (a painting's thumbnail), open, drop or link a photo (?photo=URL&style=NAME), or use the
// webcam; the network runs on this machine (WebGPU where the browser has it, else WebAssembly). strength and
// "keep the photo's colours" are infer.py's: a blend with the photo, and the photo's colours with the stylised
// luminance (BT.601). document.body.dataset.state says ready, running, done or "error: <message>".
const $ = (id) => document.getElementById(id);
const LUMA = [0.299, 0.587, 0.114];
const app = { site: null, sessions: new Map(), network: 0, weights: null, photo: null, backend: null, live: false };

function setState(state) {
  document.body.dataset.state = state;
  $("status").textContent = state;
}

function fail(error) {
  setState(`error: ${error && error.message ? error.message : error}`);
}

async function session(index) {
  if (!app.sessions.has(index)) {
    const url = app.site.networks[index].file;
    const bytes = await fetch(url).then((r) => {
      if (!r.ok) throw new Error(`${url}: ${r.status} ${r.statusText}`);
      return r.arrayBuffer();
    });
    let created = null;
    for (const backend of navigator.gpu ? ["webgpu", "wasm"] : ["wasm"]) {
      try {
        created = await ort.InferenceSession.create(bytes, { executionProviders: [backend] });
        app.backend = backend;
        break;
      } catch (error) {
        if (backend === "wasm") throw new Error(`${url}: not a network this page can run (${error.message})`);
      }
    }
    app.sessions.set(index, created);
    $("backend").textContent = app.backend === "wasm"
      ? `WebAssembly (SIMD, ${ort.env.wasm.numThreads} thread${ort.env.wasm.numThreads > 1 ? "s" : ""})` : "WebGPU";
  }
  return app.sessions.get(index);
}

function showBlend(network) {
  // A network of several styles: one slider per style (its share of the blend).
  const styles = app.site.networks[network].styles;
  const box = $("blend");
  box.replaceChildren();
  box.hidden = styles.length < 2;
  styles.forEach((style, i) => {
    const label = document.createElement("label");
    const slider = Object.assign(document.createElement("input"),
      { type: "range", min: 0, max: 1, step: 0.05, value: app.weights[i] });
    slider.oninput = () => { app.weights[i] = Number(slider.value); restylise(); };
    label.append(style.name, " ", slider);
    box.append(label);
  });
}

function selectStyle(network, style) {
  app.network = network;
  app.weights = app.site.networks[network].styles.map((_, i) => (i === style ? 1 : 0));
  document.querySelectorAll("#styles button").forEach((b) =>
    b.classList.toggle("selected", Number(b.dataset.network) === network && Number(b.dataset.style) === style));
  showBlend(network);
}

function findStyle(name) {
  for (const [n, network] of app.site.networks.entries()) {
    const s = network.styles.findIndex((style) => style.name === name);
    if (s >= 0) return [n, s];
  }
  const names = app.site.networks.flatMap((network) => network.styles.map((style) => style.name));
  throw new Error(`style ${name}: not in this site; it holds ${names.join(", ")}`);
}

function buildStyles() {
  const box = $("styles");
  app.site.networks.forEach((network, n) => network.styles.forEach((style, s) => {
    const button = document.createElement("button");
    Object.assign(button.dataset, { network: n, style: s });
    const img = Object.assign(document.createElement("img"), { src: style.thumbnail, alt: style.name });
    const caption = Object.assign(document.createElement("span"), { textContent: style.name });
    button.append(img, caption);
    button.onclick = () => { selectStyle(n, s); restylise(); };
    box.append(button);
  }));
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error(`photo ${url}: not an image this browser can read`));
    img.src = url;
  });
}

function shrunk(source, width, height, maxSide) {
  // The photo drawn on a canvas, its long side at most maxSide px (as infer.py's max_size).
  const scale = Math.min(1, maxSide / Math.max(width, height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(width * scale));
  canvas.height = Math.max(1, Math.round(height * scale));
  canvas.getContext("2d").drawImage(source, 0, 0, canvas.width, canvas.height);
  return canvas;
}

async function stylise(canvas) {
  const { width, height } = canvas;
  const pixels = canvas.getContext("2d", { willReadFrequently: true }).getImageData(0, 0, width, height).data;
  const plane = width * height;
  const x = new Float32Array(3 * plane);
  for (let i = 0, j = 0; i < plane; i++, j += 4) {
    x[i] = pixels[j] / 255;
    x[plane + i] = pixels[j + 1] / 255;
    x[2 * plane + i] = pixels[j + 2] / 255;
  }
  const net = await session(app.network);
  const feeds = { [net.inputNames[0]]: new ort.Tensor("float32", x, [1, 3, height, width]) };
  if (net.inputNames.length > 1) {
    const total = app.weights.reduce((a, b) => a + b, 0);
    if (!(total > 0)) throw new Error("blend: give at least one style a share above 0");
    feeds[net.inputNames[1]] = new ort.Tensor("float32", Float32Array.from(app.weights), [app.weights.length]);
  }
  const y = (await net.run(feeds))[net.outputNames[0]].data;
  const strength = Number($("strength").value), preserve = $("preserve").checked;
  const out = new ImageData(width, height);
  const data = out.data;  // a Uint8ClampedArray: stores round and clamp to 0..255 as infer.py's output does
  for (let i = 0, j = 0; i < plane; i++, j += 4) {
    const r0 = x[i], g0 = x[plane + i], b0 = x[2 * plane + i];
    let r = r0 + strength * (y[i] - r0), g = g0 + strength * (y[plane + i] - g0);
    let b = b0 + strength * (y[2 * plane + i] - b0);
    if (preserve) {
      const dy = LUMA[0] * (r - r0) + LUMA[1] * (g - g0) + LUMA[2] * (b - b0);
      r = r0 + dy; g = g0 + dy; b = b0 + dy;
    }
    data[j] = r * 255; data[j + 1] = g * 255; data[j + 2] = b * 255; data[j + 3] = 255;
  }
  const result = $("result");
  result.width = width;
  result.height = height;
  result.getContext("2d").putImageData(out, 0, 0);
}

async function restylise() {
  if (!app.photo || app.live) return;
  try {
    setState("running");
    await stylise(app.photo);
    $("download").disabled = false;
    setState("done");
  } catch (error) {
    fail(error);
  }
}

async function openPhoto(url) {
  const img = await loadImage(url);
  app.photo = shrunk(img, img.naturalWidth, img.naturalHeight, app.site.max_side);
  await restylise();
}

async function webcam() {
  const video = $("camera");
  video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 480, height: 270 } });
  await video.play();
  app.live = true;
  const began = performance.now();
  let frames = 0;
  setState("running");
  while (app.live) {
    await stylise(shrunk(video, video.videoWidth, video.videoHeight, 480));
    frames += 1;
    const fps = frames / ((performance.now() - began) / 1000);
    $("fps").textContent = fps.toFixed(1);
    document.body.dataset.fps = fps.toFixed(2);
    await new Promise((resolve) => setTimeout(resolve, 0));  // let the page draw and take input between frames
  }
  video.srcObject.getTracks().forEach((track) => track.stop());
  setState("ready");
}

async function main() {
  ort.env.wasm.wasmPaths = new URL("ort/", location.href).href;
  ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  app.site = await fetch("site.json").then((r) => r.json());
  buildStyles();
  const params = new URLSearchParams(location.search);
  const [network, style] = params.has("style") ? findStyle(params.get("style")) : [0, 0];
  selectStyle(network, style);
  await session(network);
  $("file").onchange = () => $("file").files[0] && openPhoto(URL.createObjectURL($("file").files[0])).catch(fail);
  $("strength").oninput = $("preserve").onchange = restylise;
  $("download").onclick = () => Object.assign(document.createElement("a"),
    { href: $("result").toDataURL("image/png"), download: "stylised.png" }).click();
  $("webcam").onclick = () => { if (app.live) { app.live = false; } else { webcam().catch(fail); } };
  const drop = $("drop");
  drop.ondragover = (event) => event.preventDefault();
  drop.ondrop = (event) => {
    event.preventDefault();
    const file = event.dataTransfer.files[0];
    if (file) openPhoto(URL.createObjectURL(file)).catch(fail);
  };
  setState("ready");
  if (params.has("photo")) await openPhoto(params.get("photo"));
}

main().catch(fail);
