//! Go's `text/tabwriter` column algorithm, which kubectl uses for tables and `describe`.
//!
//! Cells are tab-terminated; the text after a line's last tab is not part of a column. A column
//! block is a run of consecutive lines that all have a cell in that column; its width is the
//! widest cell plus `padding`, at least `min_width`. Padding is spaces.

/// A tabwriter configured like Go's `tabwriter.NewWriter(out, minwidth, _, padding, ' ', 0)`.
#[derive(Debug, Clone, Copy)]
pub struct TabWriter {
    /// Minimal cell width including padding.
    pub min_width: usize,
    /// Spaces added to the widest cell of a column.
    pub padding: usize,
}

/// kubectl's table printer (`cli-runtime` printers: minwidth 6, padding 3).
pub const TABLE: TabWriter = TabWriter {
    min_width: 6,
    padding: 3,
};

/// kubectl's describe output (`tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)`).
pub const DESCRIBE: TabWriter = TabWriter {
    min_width: 0,
    padding: 2,
};

impl TabWriter {
    /// Aligns `text` (lines separated by `\n`, cells by `\t`) the way Go's tabwriter does.
    pub fn format(&self, text: &str) -> String {
        let ends_with_newline = text.ends_with('\n');
        let body = if ends_with_newline {
            &text[..text.len() - 1]
        } else {
            text
        };
        let lines: Vec<Vec<&str>> = body.split('\n').map(|l| l.split('\t').collect()).collect();
        let mut out = String::with_capacity(text.len() * 2);
        let mut widths = Vec::new();
        self.block(&lines, 0, lines.len(), &mut widths, &mut out);
        if !ends_with_newline && out.ends_with('\n') {
            out.pop();
        }
        out
    }

    fn block(
        &self,
        lines: &[Vec<&str>],
        mut line0: usize,
        line1: usize,
        widths: &mut Vec<usize>,
        out: &mut String,
    ) {
        let column = widths.len();
        let mut this = line0;
        while this < line1 {
            if column + 1 >= lines[this].len() {
                this += 1;
                continue;
            }
            write_lines(lines, line0, this, widths, out);
            line0 = this;
            let mut width = self.min_width;
            while this < line1 && column + 1 < lines[this].len() {
                let w = lines[this][column].chars().count() + self.padding;
                width = width.max(w);
                this += 1;
            }
            widths.push(width);
            self.block(lines, line0, this, widths, out);
            widths.pop();
            line0 = this;
        }
        write_lines(lines, line0, line1, widths, out);
    }
}

fn write_lines(lines: &[Vec<&str>], from: usize, to: usize, widths: &[usize], out: &mut String) {
    for line in &lines[from..to] {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if j < widths.len() && j + 1 < line.len() {
                let pad = widths[j].saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_columns_use_widest_cell_plus_three() {
        let t = TABLE.format("NAME\tTYPE\tAGE\nkubernetes\tClusterIP\t5d\n");
        assert_eq!(
            t,
            "NAME         TYPE        AGE\nkubernetes   ClusterIP   5d\n"
        );
    }

    #[test]
    fn describe_blocks_are_per_run_of_lines() {
        let t = DESCRIBE
            .format("Name:\tweb\nPort:\t<unset>\t80/TCP\nTargetPort:\t80/TCP\nSubsets:\n  x:\ty\n");
        assert_eq!(
            t,
            "Name:        web\nPort:        <unset>  80/TCP\nTargetPort:  80/TCP\nSubsets:\n  x:  y\n"
        );
    }
}
