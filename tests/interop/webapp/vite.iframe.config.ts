// Builds anode's own output iframe (iframe-outputs/src/react.html) next to main.tsx's page, so
// an unsafe output (HTML, ...) renders where the web app renders it: in that frame, at
// VITE_IFRAME_OUTPUT_URI (here /webapp/iframe, the same origin).
import path from "node:path";
import react from "@vitejs/plugin-react";
import tailwindcss from "@tailwindcss/vite";
import { defineConfig } from "vite";

const anode = path.resolve(__dirname, "..");

export default defineConfig({
  root: path.join(anode, "iframe-outputs", "src"),
  base: "/webapp/iframe/",
  plugins: [react(), tailwindcss()],
  resolve: {
    alias: {
      "@": path.join(anode, "src"),
      "geojson-map-fit-mercator": path.join(__dirname, "geojson-stub.ts"),
    },
  },
  build: {
    outDir: path.join(__dirname, "dist", "iframe"),
    emptyOutDir: true,
    target: "esnext",
    rollupOptions: { input: path.join(anode, "iframe-outputs", "src", "react.html") },
  },
  logLevel: "warn",
});
