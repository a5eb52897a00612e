// The sound tied to the page, in the browser (the page map's js_on_load: `element` is its root, `watch` runs a
// callback after each new value). The page map (bd2music/playback.py) holds one box per panel with the start
// and end of the segment it is heard in, and where the figures drawn against time have their time axis.
// While the soundtrack plays, the box being heard is highlighted and a playhead moves over those figures;
// a click on a box plays its segment. After "Generate" the page scrolls to the progress, then to the results
// when they arrive out of sight (a phone shows them under the settings).
const player = () => document.querySelector("#soundtrack audio");  // gr.Audio's native player
const map = () => element.querySelector(".bd-map");
let frame = null;

function playhead(id) {  // the line drawn over figure `id`, made on first use
  const block = document.getElementById(id);
  if (!block) return null;
  let line = block.querySelector(":scope > .bd-playhead");
  if (!line) {
    if (getComputedStyle(block).position === "static") block.style.position = "relative";
    line = document.createElement("div");
    line.className = "bd-playhead";
    line.style.cssText = "position:absolute;width:3px;margin-left:-1px;background:#00e5ff;" +
      "box-shadow:0 0 0 1px #000;pointer-events:none;z-index:5;display:none";
    block.appendChild(line);
  }
  return line;
}

function mark(id, axis, time) {  // axis: [left, right, top, bottom] of the figure, then its first and last second
  const line = playhead(id);
  const image = document.querySelector(`#${id} img`);
  if (!line) return;
  if (time === null || !image || !image.naturalWidth) { line.style.display = "none"; return; }
  const [left, right, top, bottom, first, last] = axis;
  const box = image.getBoundingClientRect(), frameBox = line.parentElement.getBoundingClientRect();
  const scale = Math.min(box.width / image.naturalWidth, box.height / image.naturalHeight);  // object-fit: contain
  const width = image.naturalWidth * scale, height = image.naturalHeight * scale;
  const x0 = box.left + (box.width - width) / 2 - frameBox.left;
  const y0 = box.top + (box.height - height) / 2 - frameBox.top;
  const share = Math.min(1, Math.max(0, (time - first) / (last - first)));
  line.style.left = `${x0 + width * (left + share * (right - left))}px`;
  line.style.top = `${y0 + height * top}px`;
  line.style.height = `${height * (bottom - top)}px`;
  line.style.display = "block";
}

function show(time) {  // time in seconds, or null: nothing is being heard
  const root = map();
  const boxes = root ? root.querySelectorAll(".bd-panel[data-start]") : [];
  const last = root ? +root.dataset.duration : 0;
  for (const box of boxes) {
    const start = +box.dataset.start, end = +box.dataset.end;
    box.classList.toggle("playing", time !== null && time >= start && (time < end || (end >= last && time <= end)));
  }
  const plots = root && root.dataset.plots ? JSON.parse(root.dataset.plots) : {};
  for (const id of ["spectrogram", "piano-roll"]) mark(id, plots[id] || null, plots[id] ? time : null);
}

function follow(event) {  // the player's events, caught on their way down to it (media events do not bubble)
  const audio = event.target;
  if (!(audio instanceof HTMLMediaElement) || audio !== player()) return;
  cancelAnimationFrame(frame);
  if (event.type === "ended" || event.type === "emptied" || event.type === "loadstart") { show(null); return; }
  show(audio.currentTime);
  if (!audio.paused) {  // smoother than timeupdate's few calls a second
    const step = () => { show(audio.currentTime); if (!audio.paused) frame = requestAnimationFrame(step); };
    frame = requestAnimationFrame(step);
  }
}
for (const type of ["play", "playing", "pause", "seeked", "timeupdate", "ended", "emptied", "loadstart"]) {
  document.addEventListener(type, follow, true);
}

element.addEventListener("click", (event) => {  // a panel plays its segment
  const box = event.target.closest(".bd-panel[data-start]");
  const audio = player();
  if (!box || !audio) return;
  audio.currentTime = +box.dataset.start;
  audio.play().catch(() => {});
  show(+box.dataset.start);
});

document.addEventListener("click", (event) => {  // after Generate or Analyse, the progress comes into sight
  if (!event.target.closest("#generate, #analyze")) return;
  setTimeout(() => document.getElementById("status")?.scrollIntoView({ block: "nearest", behavior: "smooth" }), 50);
}, true);

watch("value", () => {  // new results: nothing heard yet; bring them into sight (with their legend) when out of it
  show(null);
  const top = element.getBoundingClientRect().top;
  if (map() && (top > window.innerHeight * 0.6 || top < 0)) {
    (document.getElementById("overlay-legend") ?? element).scrollIntoView({ block: "start", behavior: "smooth" });
  }
});
