// geojson-map-fit-mercator (used only by anode's GeoJSON map output) is not on the npm
// registry these machines reach; scripts/check-webapp.sh builds without it. A GeoJSON output
// would show this error instead of a map; the check renders none.
export function mapFitFeatures(): never {
  throw new Error("geojson-map-fit-mercator is not installed in this check build");
}
