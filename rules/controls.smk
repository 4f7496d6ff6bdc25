# inputs.frames: a render folder of PNG sequences -> work/controls/<spec>/<modality>.mp4 + meta.json.
# Validation first (every problem at once), then one ffmpeg process per modality, then meta.json.
# The PNGs are inputs, so changing, adding or removing one re-encodes only that spec's videos.
rule ffmpeg_validate_render:
    input:
        get_render_frames,
    output:
        "work/controls/{spec}/validation.json",
    log:
        "logs/controls/{spec}/validate.log",
    localrule: True
    conda:
        "../environment.yml"
    params:
        folder=get_render_folder,
    shell:
        "python -m cosmos_steps render validate --frames {params.folder:q} --out {output} --log {log}"


rule ffmpeg_encode_control:
    input:
        frames=get_modality_frames,
        validation="work/controls/{spec}/validation.json",
    output:
        video="work/controls/{spec}/{video}.mp4",
        facts="work/controls/{spec}/{video}.json",
    log:
        "logs/controls/{spec}/{video}.log",
    benchmark:
        "benchmarks/controls/{spec}/{video}.tsv"
    localrule: True
    conda:
        "../environment.yml"
    params:
        folder=get_render_folder,
        fps=get_render_fps,
        crf=config["encode"]["crf"],
        preset=config["encode"]["preset"],
        ffmpeg=config["ffmpeg"],
    shell:
        "python -m cosmos_steps render encode --frames {params.folder:q} --out {output.video}"
        " --fps {params.fps} --crf {params.crf} --preset {params.preset:q}"
        " --ffmpeg {params.ffmpeg:q} --log {log}"


rule cosmos_controls_meta:
    input:
        validation="work/controls/{spec}/validation.json",
        videos=get_encoded_videos,
    output:
        "work/controls/{spec}/meta.json",
    log:
        "logs/controls/{spec}/meta.log",
    localrule: True
    conda:
        "../environment.yml"
    params:
        fps=get_render_fps,
        crf=config["encode"]["crf"],
        preset=config["encode"]["preset"],
    run:
        controls_meta_rule(input, output, params, config)
