// Make shop.db from shop.sql, beside this file: t/node etc/examples/make-shop-db.mjs
import fs from "node:fs";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";

const here = path.dirname(new URL(import.meta.url).pathname);
const out = path.join(here, "shop.db");
fs.rmSync(out, { force: true });
const db = new DatabaseSync(out);
db.exec(fs.readFileSync(path.join(here, "shop.sql"), "utf8"));
db.close();
