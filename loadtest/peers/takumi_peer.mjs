// takumi's side of the peer comparison (loadtest/peers.sh).
//
// Renders opentime's reference card (benches/support/cards.rs, `card_in`),
// flat card (`flat_card`) or reference timer (`sale_timer`) COUNT times with
// @takumi-rs/core, the way its documentation says a server should, and
// prints one JSON line with the time of each render and encoding:
//
//     node takumi_peer.mjs card 200 /tmp/takumi-card.png
//     node takumi_peer.mjs flat 200 /tmp/takumi-flat.png
//     node takumi_peer.mjs timer 20 /tmp/takumi-timer.gif
//
// One Renderer lives for the whole run, with both Noto Sans faces registered
// before the clock starts (the docs' "Reuse the Renderer"). The background's
// bytes are read once and handed to every render under one `src`; the
// renderer keeps the decoded image in its resource cache (`cache: "auto"`,
// the default), which is how 2.x keeps what the older docs call the
// persistent image store. The card is a node tree: the image with
// `object-fit: cover` under two absolutely placed text boxes; the flat card
// is the same two boxes on a white container, with no image. The timer is
// one `renderAnimation` call with 60 one-second scenes (fps 1), each the
// countdown at that second, encoded as a GIF. Renders run one at a time, each
// awaited before the next starts. Two unmeasured renders warm up first. The
// first measured image is written to OUTFILE and its size is the "bytes".

import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

import { Renderer } from "@takumi-rs/core";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
// The release that runs, as installed (the package exports no package.json).
const TAKUMI_VERSION = JSON.parse(
  await readFile(new URL("node_modules/@takumi-rs/core/package.json", import.meta.url), "utf8"),
).version;

const WARM_UP_RENDERS = 2;
const TIMER_START_SECONDS = 3 * 86_400;
const TIMER_FRAMES = 60;
const FAMILY = "Noto Sans";
const BACKGROUND_SRC = "card-background";

const CASES = ["card", "flat", "timer"];
const FLAT_INK = "rgb(31 41 55)";

const DIGIT_FONT = { fontWeight: 700, fontSize: 48, color: "rgb(255 255 255)" };
const LABEL_FONT = { fontWeight: 400, fontSize: 16, color: "rgb(200 210 255)" };

const UNITS = [
  ["days", 86_400],
  ["hours", 3_600],
  ["minutes", 60],
  ["seconds", 1],
];

async function main() {
  const { imageCase, count, output } = parseArgs(process.argv.slice(2));
  const renderer = new Renderer();
  for (const file of ["NotoSans-Regular.ttf", "NotoSans-Bold.ttf"]) {
    await renderer.registerFont({ data: await readFile(`${REPO}fonts/${file}`) });
  }
  const background = await readFile(`${REPO}assets/images/card-background.png`);
  const render = {
    card: (number) =>
      renderer.render(card(number), {
        width: 600,
        height: 200,
        format: "png",
        images: [{ src: BACKGROUND_SRC, data: background }],
      }),
    flat: (number) => renderer.render(flatCard(number), { width: 600, height: 200, format: "png" }),
    timer: (number) =>
      renderer.renderAnimation({
        width: 600,
        height: 150,
        format: "gif",
        fps: 1,
        scenes: timerScenes(TIMER_START_SECONDS - number),
      }),
  }[imageCase];
  const signature = Buffer.from(imageCase === "timer" ? "GIF89a" : "\x89PNG\r\n\x1a\n", "latin1");

  for (let number = count; number < count + WARM_UP_RENDERS; number++) {
    await render(number);
  }
  const timesMs = [];
  let sample = null;
  for (let number = 0; number < count; number++) {
    const started = process.hrtime.bigint();
    const image = await render(number);
    timesMs.push(Number(process.hrtime.bigint() - started) / 1e6);
    if (!image.subarray(0, signature.length).equals(signature)) {
      fail(`${imageCase} number ${number} is not a ${imageCase} image (${image.length} bytes)`);
    }
    if (number === 0) sample = image;
  }
  await writeFile(output, sample);
  const result = {
    renderer: "takumi",
    version: TAKUMI_VERSION,
    case: imageCase,
    times_ms: timesMs,
    bytes: sample.length,
  };
  console.log(JSON.stringify(result));
}

function parseArgs(args) {
  const usage = `usage: takumi_peer.mjs ${CASES.join("|")} COUNT OUTFILE`;
  if (args.length !== 3 || !CASES.includes(args[0])) fail(usage);
  const count = Number(args[1]);
  if (!Number.isInteger(count) || count <= 0) {
    fail(`the count must be a positive whole number, not ${JSON.stringify(args[1])}\n${usage}`);
  }
  return { imageCase: args[0], count, output: args[2] };
}

function fail(message) {
  console.error(message);
  process.exit(1);
}

// The reference card for recipient `number`.
function card(number) {
  return {
    type: "container",
    style: { width: 600, height: 200, position: "relative", display: "flex" },
    children: [
      {
        type: "image",
        src: BACKGROUND_SRC,
        style: { position: "absolute", left: 0, top: 0, width: 600, height: 200, objectFit: "cover" },
      },
      textBox(`Thank you, Алёна ${number}!`, { left: 24, top: 30, width: 552, height: 70 }, "flex-end", {
        fontWeight: 700,
        fontSize: 36,
        color: "rgb(255 255 255)",
      }),
      textBox(
        `Your renewal #${number} went through. See you next year.`,
        { left: 24, top: 110, width: 552, height: 60 },
        "flex-start",
        { fontWeight: 400, fontSize: 20, color: "rgb(255 255 255 / 220)" },
      ),
    ],
  };
}

// The flat card for recipient `number`: white, a fixed heading at the bottom
// of (24, 30, 552, 70) and the line that thanks the recipient at the top of
// (24, 110, 552, 60), both dark gray.
function flatCard(number) {
  return {
    type: "container",
    style: { width: 600, height: 200, position: "relative", display: "flex", backgroundColor: "rgb(255 255 255)" },
    children: [
      textBox("Your order is on its way", { left: 24, top: 30, width: 552, height: 70 }, "flex-end", {
        fontWeight: 700,
        fontSize: 32,
        color: FLAT_INK,
      }),
      textBox(`Thank you, Алёна ${number}!`, { left: 24, top: 110, width: 552, height: 60 }, "flex-start", {
        fontWeight: 400,
        fontSize: 22,
        color: FLAT_INK,
      }),
    ],
  };
}

// Centered text, wrapping to at most two lines, at the top ("flex-start") or
// bottom ("flex-end") of an absolutely placed frame.
function textBox(text, frame, justifyContent, font) {
  return {
    type: "container",
    style: {
      position: "absolute",
      ...frame,
      display: "flex",
      flexDirection: "column",
      justifyContent,
      overflow: "hidden",
    },
    children: [
      {
        type: "text",
        text,
        style: { fontFamily: FAMILY, lineHeight: 1.25, textAlign: "center", lineClamp: 2, ...font },
      },
    ],
  };
}

// One scene a second, each showing the time left at that second.
function timerScenes(remaining) {
  const scenes = [];
  for (let second = 0; second < TIMER_FRAMES; second++) {
    scenes.push({ node: countdown(remaining - second), durationMs: 1000 });
  }
  return scenes;
}

// The reference timer at `seconds` left: four cells of equal width, 24 px
// apart, each a rounded box with its number over a label, ":" between the
// boxes, the whole centered in the frame (30, 15, 540, 120), as opentime's
// countdown lays them out.
function countdown(seconds) {
  const numbers = unitNumbers(seconds);
  const row = [];
  UNITS.forEach(([label], index) => {
    if (index > 0) row.push(centered(":", { width: 24, height: 67.2, flexShrink: 0 }, DIGIT_FONT));
    row.push({
      type: "container",
      style: { display: "flex", flexDirection: "column", flexGrow: 1, flexBasis: 0 },
      children: [
        centered(
          numbers[index],
          { height: 67.2, backgroundColor: "rgb(60 70 160)", borderRadius: 10 },
          DIGIT_FONT,
        ),
        centered(label, { height: 22.4 }, LABEL_FONT),
      ],
    });
  });
  return {
    type: "container",
    style: { width: 600, height: 150, position: "relative", display: "flex", backgroundColor: "rgb(20 24 64)" },
    children: [
      {
        type: "container",
        style: {
          position: "absolute",
          left: 30,
          top: 15,
          width: 540,
          height: 120,
          display: "flex",
          flexDirection: "column",
          justifyContent: "center",
        },
        children: [{ type: "container", style: { display: "flex", flexDirection: "row" }, children: row }],
      },
    ],
  };
}

// One line of text centered in a box of `style`.
function centered(text, style, font) {
  return {
    type: "container",
    style: { display: "flex", alignItems: "center", justifyContent: "center", ...style },
    children: [{ type: "text", text, style: { fontFamily: FAMILY, lineHeight: 1.25, ...font } }],
  };
}

// Days, hours, minutes and seconds left, two digits each.
function unitNumbers(seconds) {
  let rest = Math.max(seconds, 0);
  return UNITS.map(([, unitSeconds]) => {
    const value = Math.floor(rest / unitSeconds);
    rest %= unitSeconds;
    return String(value).padStart(2, "0");
  });
}

await main();
