// Builds main.tsx against the anode checkout it is copied into (ANODE/.runt-check/), with
// anode's own React, Tailwind and worker settings (vite.config.ts there).
import path from "node:path";
import react from "@vitejs/plugin-react";
import tailwindcss from "@tailwindcss/vite";
import { defineConfig } from "vite";

const anode = path.resolve(__dirname, "..");

export default defineConfig({
  root: __dirname,
  base: "/webapp/",
  plugins: [react(), tailwindcss()],
  worker: { format: "es" },
  resolve: {
    alias: {
      "@": path.join(anode, "src"),
      "geojson-map-fit-mercator": path.join(__dirname, "geojson-stub.ts"),
    },
  },
  define: {
    "import.meta.env.VITE_LIVESTORE_SYNC_URL": JSON.stringify("/livestore"),
    "import.meta.env.VITE_IFRAME_OUTPUT_URI": JSON.stringify("/webapp/iframe"),
  },
  build: { outDir: path.join(__dirname, "dist"), emptyOutDir: true, target: "esnext" },
  logLevel: "warn",
});
