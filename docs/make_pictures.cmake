# Runs every chapter with --quick and gathers its pictures for the docs: each PNG a chapter
# writes into its output folder is copied to PICTURES as NN_<name>.png (NN: the chapter), where
# the chapter pages find them (\image html NN_<name>.png). Called by the docs_pictures target:
#   cmake -DCHAPTERS="a;b" -DWORK=dir -DPICTURES=dir -P make_pictures.cmake
file(REMOVE_RECURSE ${PICTURES})
file(MAKE_DIRECTORY ${PICTURES} ${WORK})
foreach(chapter ${CHAPTERS})
  get_filename_component(name ${chapter} NAME)
  string(SUBSTRING ${name} 0 2 number)
  file(REMOVE_RECURSE ${WORK}/${name})
  execute_process(
    COMMAND ${CMAKE_COMMAND} -E env OMP_WAIT_POLICY=PASSIVE
            ${chapter} --quick --threads 1 --out ${WORK}/${name}
    OUTPUT_FILE ${WORK}/${name}.log ERROR_FILE ${WORK}/${name}.log
    RESULT_VARIABLE status)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "docs: chapter ${name} --quick failed (status ${status}); see ${WORK}/${name}.log")
  endif()
  file(GLOB pictures ${WORK}/${name}/*.png)
  foreach(picture ${pictures})
    get_filename_component(file ${picture} NAME)
    file(COPY_FILE ${picture} ${PICTURES}/${number}_${file})
  endforeach()
endforeach()
