# Turns docs/CONFIG.md into the body of the anylb.yaml(5) man page, in scdoc syntax, so that the
# page and the reference can never say different things. What CONFIG.md uses, and nothing more:
# headings (# is the title, ## a section, ### a subsection), paragraphs, "- " lists with indented
# continuation lines, ``` blocks, tables (each row becomes the key in bold and its other cells
# as an indented paragraph), `code` (bold), **bold**, [text](link) (the text), \| in a cell.
# Usage: awk -f man/md2scd.awk docs/CONFIG.md > anylb.yaml.5.scd (after a header of its own).

# scdoc's markup characters in plain text, escaped.
function esc(s) {
	gsub(/\\/, "\\\\", s)
	gsub(/\*/, "\\*", s)
	gsub(/_/, "\\_", s)
	return s
}

# One line of Markdown inline markup into scdoc.
function inline(s,    out, i, c, j, k, t) {
	gsub(/\\\|/, "|", s)
	out = ""
	while (length(s) > 0) {
		i = index(s, "`")
		j = index(s, "**")
		k = index(s, "[")
		# the first of the three markers
		c = 0
		if (i > 0) c = i
		if (j > 0 && (c == 0 || j < c)) c = j
		if (k > 0 && (c == 0 || k < c)) c = k
		if (c == 0) {
			out = out esc(s)
			break
		}
		out = out esc(substr(s, 1, c - 1))
		s = substr(s, c)
		if (substr(s, 1, 1) == "`") {
			t = index(substr(s, 2), "`")
			if (t == 0) { out = out esc(s); break }
			out = out "*" esc(substr(s, 2, t - 1)) "*"
			s = substr(s, t + 2)
		} else if (substr(s, 1, 2) == "**") {
			t = index(substr(s, 3), "**")
			if (t == 0) { out = out esc(s); break }
			out = out "*" esc(substr(s, 3, t - 1)) "*"
			s = substr(s, t + 4)
		} else {
			# [text](target): the text; anything else stays as it is
			t = index(s, "](")
			if (t == 0) { out = out esc("["); s = substr(s, 2); continue }
			out = out inline(substr(s, 2, t - 2))
			s = substr(s, t + 2)
			t = index(s, ")")
			s = t > 0 ? substr(s, t + 1) : ""
		}
	}
	return out
}

function flush_item() {
	if (item != "") {
		print "- " inline(item)
		item = ""
		inlist = 1
	}
}

function cells(line, arr,    n, i) {
	gsub(/\\\|/, "\001", line)
	sub(/^\| */, "", line)
	sub(/ *\| *$/, "", line)
	n = split(line, arr, / *\| */)
	for (i = 1; i <= n; i++)
		gsub(/\001/, "\\|", arr[i])
	return n
}

BEGIN { incode = 0; item = ""; inlist = 0; header = 0; nhead = 0 }

/^```/ {
	flush_item()
	print "```"
	incode = !incode
	next
}
incode { print; next }

# the title: the page has its own NAME section
/^# / { next }

/^## / { flush_item(); inlist = 0; t = substr($0, 4); gsub(/`/, "", t); print ""; print "# " inline(toupper(t)); next }
/^### / { flush_item(); inlist = 0; t = substr($0, 5); gsub(/`/, "", t); print ""; print "## " inline(t); next }

/^\|/ {
	flush_item()
	n = cells($0, c)
	if (!header) {
		nhead = n
		for (i = 1; i <= n; i++) head[i] = c[i]
		header = 1
		next
	}
	if (c[1] ~ /^-+$/ || c[1] ~ /^:?-+:?$/) next
	print ""
	print inline(c[1])
	rest = ""
	for (i = 2; i < n; i++) {
		if (c[i] == "") continue
		rest = rest (rest == "" ? "" : "; ") head[i] ": " c[i]
	}
	if (rest != "") print "\t" inline(rest) "." (n > 1 && c[n] != "" ? "++" : "")
	if (n > 1 && c[n] != "") print "\t" inline(c[n])
	next
}
{ header = 0 }

/^- / { flush_item(); item = substr($0, 3); next }
/^  +[^ ]/ && item != "" { t = $0; sub(/^ +/, "", t); item = item " " t; next }

/^$/ { flush_item(); if (inlist) { inlist = 0 } print ""; next }

{ flush_item(); inlist = 0; t = $0; sub(/^ +/, "", t); print inline(t) }

END { flush_item() }
